"""Pure numpy/annoy engine: no boto3, no environment, no network."""
