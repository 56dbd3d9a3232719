"""The `regularize` stage: a classification map cleaned by majority vote and sieving.

`request` holds what the user asks (`RegularizeRequest`), `majority` the windowed majority vote (one
block with its halo), `sieving` the removal of small regions (GDAL's sieve over the whole band),
`source` the map read with its class table, `pipeline` the run under the output policy.
"""
