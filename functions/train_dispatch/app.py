"""The training schedule: one queued training job per tenant with new interactions, stalest first;
the train function runs each job from its queue, one tenant per invocation. Tenants too large for
one Lambda start a Spark run on EMR Serverless (reported, not queued, where none is deployed)."""

from recengine.models.dispatch import run_dispatch
from recengine.observability import lambda_handler as instrumented
from recengine.runtime import runtime


@instrumented
def lambda_handler(event, context):
    rt = runtime()
    return run_dispatch(rt.tenants, rt.training, rt.jobs, rt.training_launcher, timeouts=rt.job_timeouts,
                        max_events=rt.settings.max_lambda_training_events, spark=rt.spark_launcher)
