"""Build the PSEG head-and-shoulders portrait dataset from an LV-MHP-v1 or LV-MHP-v2 download."""
