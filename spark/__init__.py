"""The Spark training job: the Lambda trainer's artefact, fitted on PySpark for tenants past one Lambda."""
