"""`cfipt evaluate`: a class map and a reference -> accuracy reports (OA, AA, kappa, per class)."""
