"""The only code that talks to AWS: DynamoDB tables and the S3 artefact bucket."""
