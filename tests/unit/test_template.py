"""template.yaml is the single source of truth: check the shape the product relies on."""

from __future__ import annotations

import json
import re

from local.template import (NO_VALUE, choose_if, load_template, resources, routes, stage_name, table_env_names,
                            usage_plans)
from recengine.billing.plans import PLANS


# The portal's routes: public (register, login, token; no authorizer) or portal-token routes (the
# authorizer verifies the token, which carries no usage key: docs/adr/0005-portal-tokens.md).
PORTAL_PUBLIC = {("POST", "/api/auth/register"), ("POST", "/api/auth/login"), ("POST", "/auth/v1/token")}
PORTAL_TOKEN = {("GET", "/api/users"), ("POST", "/api/users"), ("GET", "/api/users/{user_id}"),
                ("PUT", "/api/users/{user_id}"), ("DELETE", "/api/users/{user_id}"),
                ("PATCH", "/api/users/{user_id}/toggle-status")}
# Routes that take a portal token or an API key: no key at API Gateway, the authorizer verifies a
# token and the function validates a key value itself (recengine.runtime.key_or_token_api).
KEY_OR_TOKEN = {("GET", "/api/billing/current"), ("GET", "/api/billing/usage"), ("GET", "/api/billing/invoices"),
                ("PUT", "/api/billing/overage-cap"), ("POST", "/api/billing/checkout"), ("POST", "/api/billing/portal")}
PORTAL_TOKEN |= {("GET", "/api/recommendations"), ("GET", "/api/recommendations/my"),
                 ("GET", "/api/recommendations/{rec_id}"), ("DELETE", "/api/recommendations/{rec_id}"),
                 ("POST", "/api/recommendations/generate")}
PORTAL_TOKEN |= {("GET", "/api/analytics/stats"), ("GET", "/api/analytics/data")}


def test_every_route_but_health_the_price_list_and_the_portals_requires_an_api_key():
    found = {(r.method, r.path): r for r in routes()}
    assert found.pop(("GET", "/health")).api_key_required is False
    assert found.pop(("GET", "/v1/billing/plans")).api_key_required is False  # public, like a pricing page
    assert found.pop(("GET", "/api/billing/plans")).api_key_required is False  # the same, RecommendAI's shape
    for route in PORTAL_PUBLIC:
        assert not found[route].api_key_required and found.pop(route).authorizer is None, route
    for route in PORTAL_TOKEN | KEY_OR_TOKEN:  # no key, but never without the authorizer
        assert not found[route].api_key_required and found.pop(route).authorizer is not None, route
    assert found and all(r.api_key_required for r in found.values())


def test_each_endpoint_group_has_its_own_function_on_the_engine_layer():
    template = load_template()
    assert template["Globals"]["Function"]["Layers"] == [{"Ref": "EngineLayer"}]
    layer = resources("AWS::Serverless::LayerVersion")["EngineLayer"]
    assert layer["Metadata"]["BuildMethod"] == "python3.11"
    functions = resources("AWS::Serverless::Function")
    for name in ("RecommendFunction", "InteractionsFunction", "SimilarFunction", "BillingFunction",
                 "ItemsFunction", "HealthFunction", "TrainFunction"):
        assert name in functions
    assert template["Globals"]["Function"]["Runtime"] == "python3.11"


def test_usage_plans_match_the_billing_plans():
    plans = usage_plans()
    assert set(plans) == set(PLANS) == {"starter", "growth", "enterprise"}
    for name, plan in plans.items():
        assert plan.quota_limit == PLANS[name].quota_limit  # the hard ceiling; overage is billed below it
        assert plan.quota_limit > PLANS[name].request_limit
        assert plan.quota_period == "MONTH"
        assert plan.rate_limit == PLANS[name].rate_limit
        assert plan.burst_limit == PLANS[name].burst_limit


def test_tables_are_on_demand_with_point_in_time_recovery():
    tables = resources("AWS::DynamoDB::Table")
    assert set(table_env_names().values()) >= set(tables)
    for name, table in tables.items():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name
    assert tables["SessionsTable"]["Properties"]["TimeToLiveSpecification"]["Enabled"] is True


def test_the_meters_call_markers_expire_by_the_usage_tables_ttl():
    from recengine.billing.store import EXPIRES_AT

    ttl = resources("AWS::DynamoDB::Table")["UsageTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": EXPIRES_AT, "Enabled": True}


def test_artefact_bucket_is_versioned_encrypted_and_private():
    props = resources("AWS::S3::Bucket")["ModelBucket"]["Properties"]
    assert props["VersioningConfiguration"]["Status"] == "Enabled"
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert all(props["PublicAccessBlockConfiguration"].values())


def test_training_runs_on_a_schedule_and_outputs_name_every_resource():
    functions = resources("AWS::Serverless::Function")
    assert functions["TrainDispatchFunction"]["Properties"]["Events"]["Schedule"]["Type"] in ("Schedule", "ScheduleV2")
    jobs = functions["TrainFunction"]["Properties"]["Events"]["Jobs"]
    assert jobs["Type"] == "SQS" and jobs["Properties"]["Queue"] == {"Fn::GetAtt": "TrainQueue.Arn"}
    outputs = load_template()["Outputs"]
    for key in ("ApiUrl", "ItemsTableName", "InteractionsTableName", "SessionsTableName", "ModelsTableName",
                "TenantsTableName", "UsageTableName", "ModelBucketName"):
        assert key in outputs


def test_recommend_writes_only_the_exposure_log_besides_metering():
    functions = resources("AWS::Serverless::Function")
    assert "HealthFunction" not in [f for f in functions if functions[f]["Properties"].get("Policies")]
    writes = [p for p in functions["RecommendFunction"]["Properties"]["Policies"] if not next(iter(p)).endswith("ReadPolicy")]
    # Its only write: appending to the exposure log (and querying it for frequency caps).
    assert writes == [{"Statement": [{"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:Query"],
                                      "Resource": {"Fn::GetAtt": "ExposuresTable.Arn"}}]}]


# Values an operator gives the optional parameters (a deployment with Stripe); the defaults leave them empty.
CONFIGURED = {"StripeSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/stripe-key-AbCdEf",
              "BillingReturnUrl": "https://app.example.com/billing"}


def _function_variables(given: dict | None = None) -> dict[str, dict[str, str]]:
    """Function logical id -> the environment the template gives it under the parameter values `given`
    (else the defaults); a reference becomes a stand-in value: a table, bucket, queue or secret name
    is not known before deployment."""
    template = load_template()
    given = given or {}
    parameters = template["Parameters"]

    def value(name: str, v):
        v = choose_if(v, given, template)
        if v is NO_VALUE or isinstance(v, str):
            return v
        if isinstance(v, dict) and v.get("Ref") in given:
            return given[v["Ref"]]
        if isinstance(v, dict) and v.get("Ref") in parameters and "Default" in parameters[v["Ref"]]:
            return str(parameters[v["Ref"]]["Default"])
        return f"resolved-{name.lower()}-0123456789"

    def values(variables: dict) -> dict[str, str]:
        return {k: out for k, v in variables.items() if (out := value(k, v)) is not NO_VALUE}

    shared = values(template["Globals"]["Function"]["Environment"]["Variables"])
    return {name: {**shared, **values(fn["Properties"].get("Environment", {}).get("Variables", {}))}
            for name, fn in resources("AWS::Serverless::Function").items() if name != "AuthorizerFunction"}


def test_every_variable_the_template_sets_is_declared_in_the_settings_model():
    from recengine.settings import variables

    for given in ({}, CONFIGURED):
        undeclared = {fn: sorted(set(env) - variables()) for fn, env in _function_variables(given).items()
                      if set(env) - variables()}
        assert undeclared == {}


def test_the_settings_of_every_function_validate_from_what_the_template_sets():
    from recengine.settings import Settings

    for given in ({}, CONFIGURED):
        for env in _function_variables(given).values():
            Settings.from_env(env)  # a missing or invalid variable would raise SettingsError naming it


def test_stripe_is_configured_for_billing_only_and_only_when_its_secret_is_named():
    """Without StripeSecretArn no function has STRIPE_SECRET_ID (checkout answers 501); with it only
    billing does, with the return URL Stripe needs, and a rule refuses the secret without that URL."""
    template = load_template()
    assert all("STRIPE_SECRET_ID" not in env and "BILLING_RETURN_URL" not in env
               for env in _function_variables().values())
    configured = _function_variables(CONFIGURED)
    assert {fn for fn, env in configured.items() if "STRIPE_SECRET_ID" in env} == {"BillingFunction"}
    assert configured["BillingFunction"]["STRIPE_SECRET_ID"] == CONFIGURED["StripeSecretArn"]
    assert configured["BillingFunction"]["BILLING_RETURN_URL"] == CONFIGURED["BillingReturnUrl"]
    rule = template["Rules"]["StripeNeedsAReturnUrl"]
    assert rule["RuleCondition"] == template["Conditions"]["HasStripeSecret"]
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "BillingReturnUrl"}, ""]}]}
    import re

    pattern = re.compile(template["Parameters"]["StripeSecretArn"]["AllowedPattern"])
    assert pattern.match("") and pattern.match(CONFIGURED["StripeSecretArn"])
    assert not pattern.match("sk_live_0123456789abcdef")  # a key pasted in place of its secret's ARN


def test_alarms_watch_the_5xx_rate_dead_letters_and_recommend_p99():
    template = load_template()
    alarms = resources("AWS::CloudWatch::Alarm")
    by_metric = {a["Properties"]["MetricName"]: a["Properties"] for a in alarms.values()}
    assert by_metric["5XXError"]["Namespace"] == "AWS/ApiGateway"
    dead_letters = {a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"] for a in alarms.values()
                    if a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"}
    assert dead_letters == {"BatchDeadLetterQueue.QueueName", "TrainDeadLetterQueue.QueueName",
                            "ErasureDeadLetterQueue.QueueName"}
    latency = by_metric["Latency"]
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    # The alarm reads the metric the functions emit: same namespace, same service and route dimensions.
    assert latency["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"] and latency["ExtendedStatistic"] == "p99"
    assert {d["Name"]: d["Value"] for d in latency["Dimensions"]} == {
        "service": env["POWERTOOLS_SERVICE_NAME"], "route": "POST /v1/recommend"}
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms.values())


# Room a model-serving function keeps outside its model cache: in memory, the Python runtime and
# libraries (about 250 MB) plus the one version being loaded before it is admitted (about 320 MB at
# 100k items); on /tmp, a margin for anything else written there.
CACHE_MEMORY_HEADROOM_MB = 640
CACHE_DISK_HEADROOM_MB = 256
MODEL_SERVING_FUNCTIONS = ("RecommendFunction", "SimilarFunction", "BatchWorkerFunction")


def test_the_model_cache_budgets_fit_the_functions_that_serve_models():
    functions = resources("AWS::Serverless::Function")
    for name in MODEL_SERVING_FUNCTIONS:
        props = functions[name]["Properties"]
        env = props["Environment"]["Variables"]
        memory, disk = int(env["MODEL_CACHE_MEMORY_MB"]), int(env["MODEL_CACHE_DISK_MB"])
        assert 0 < memory <= int(props["MemorySize"]) - CACHE_MEMORY_HEADROOM_MB, name
        assert 0 < disk <= int(props["EphemeralStorage"]["Size"]) - CACHE_DISK_HEADROOM_MB, name
        # Room for at least a few of the largest artefacts (290 MB at 100k items) besides the one loading.
        assert disk >= 3 * 290 and memory >= 2 * 320, name


def test_job_functions_are_bounded_by_reserved_and_queue_concurrency_from_parameters():
    """One tenant's jobs cannot take the account's Lambda concurrency from every tenant's recommend:
    the job functions reserve (and so cap) their concurrency, and their SQS sources run at most a
    set number at once, both from parameters; the queue's cap fits inside the reservation, so
    messages are not taken only to be throttled."""
    template = load_template()
    parameters = template["Parameters"]
    functions = resources("AWS::Serverless::Function")
    for function, prefix in (("TrainFunction", "Train"), ("BatchWorkerFunction", "BatchWorker")):
        props = functions[function]["Properties"]
        reserved, most = f"{prefix}ReservedConcurrency", f"{prefix}MaxConcurrency"
        condition, value, otherwise = props["ReservedConcurrentExecutions"]["Fn::If"]
        assert value == {"Ref": reserved} and otherwise == {"Ref": "AWS::NoValue"}
        assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": reserved}, 0]}]}
        (event,) = [e for e in props["Events"].values() if e["Type"] == "SQS"]
        assert event["Properties"]["ScalingConfig"]["MaximumConcurrency"] == {"Ref": most}
        assert event["Properties"]["BatchSize"] == 1  # one tenant's job or chunk per invocation
        assert parameters[most]["MinValue"] == 2  # SQS's own floor
        assert 2 <= parameters[most]["Default"] <= parameters[reserved]["Default"]


def test_the_pseudonym_key_is_a_generated_secret_and_no_function_carries_a_plaintext_key():
    """No default and no plaintext: the key is generated into Secrets Manager at deployment; the
    environment only names the secret (a Ref to it), and no parameter passes a key in."""
    template = load_template()
    secret = resources("AWS::SecretsManager::Secret")["PseudonymSecret"]["Properties"]
    assert "SecretString" not in secret and secret["GenerateSecretString"]["PasswordLength"] >= 32
    assert not [p for p, spec in template["Parameters"].items() if spec.get("NoEcho") or "Key" in p]
    environments = [template["Globals"]["Function"]["Environment"]["Variables"]] + [
        (fn["Properties"].get("Environment") or {}).get("Variables") or {}
        for fn in resources("AWS::Serverless::Function").values()]
    for variables in environments:
        for name, value in variables.items():
            assert "PSEUDONYM_KEY" not in name and "PASSWORD" not in name, name
            if any(word in name for word in ("SECRET", "KEY", "TOKEN")):  # a reference to a secret, never a value
                assert value in ({"Ref": "PseudonymSecret"}, {"Fn::If": ["HasStripeSecret", {"Ref": "StripeSecretArn"},
                                                                          {"Ref": "AWS::NoValue"}]}), name


def test_every_function_logs_to_its_own_log_group_with_a_retention_period():
    """No log group is left to the first invocation (which keeps logs forever): each function's is a
    template resource with LogRetentionDays, and every log group of the template has a retention."""
    template = load_template()
    groups = resources("AWS::Logs::LogGroup")
    assert groups and all(g["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups.values())
    parameter = template["Parameters"]["LogRetentionDays"]
    assert parameter["Default"] == 30 and parameter["Default"] in parameter["AllowedValues"]
    used = []
    for name, fn in resources("AWS::Serverless::Function").items():
        group = (fn["Properties"].get("LoggingConfig") or {}).get("LogGroup")
        assert isinstance(group, dict) and group.get("Ref") in groups, f"{name} logs to no log group of the template"
        used.append(group["Ref"])
    for name, app in resources("AWS::EMRServerless::Application").items():  # the Spark runs' driver and executors
        logging = app["Properties"]["MonitoringConfiguration"]["CloudWatchLoggingConfiguration"]
        assert logging["Enabled"] is True and logging["LogGroupName"].get("Ref") in groups, name
        used.append(logging["LogGroupName"]["Ref"])
    assert sorted(used) == sorted(set(used)) == sorted(groups)  # one each, none left over
    api = next(iter(resources("AWS::Serverless::Api").values()))["Properties"]
    access = (api.get("AccessLogSetting") or {}).get("DestinationArn")
    if access is not None:  # API access logs, if any, go to a log group of the template, kept the same way
        target = access["Fn::GetAtt"]
        assert (target.split(".")[0] if isinstance(target, str) else target[0]) in groups


def test_interactions_expire_by_the_tables_ttl_on_the_attribute_the_store_writes():
    """Off unless a tenant sets interaction_ttl_days: then its user rows carry `expires_at`, as sessions do."""
    tables = resources("AWS::DynamoDB::Table")
    for table in ("InteractionsTable", "SessionsTable"):
        assert tables[table]["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expires_at",
                                                                          "Enabled": True}


# ------------------------------------------------------------------ rate limits (WAF on the API stage)
def _waf_rules() -> dict[str, dict]:
    acl = resources("AWS::WAFv2::WebACL")["ApiWebAcl"]["Properties"]
    return {rule["Name"]: rule for rule in acl["Rules"]}


def test_the_web_acl_is_regional_and_on_the_apis_stage():
    acl = resources("AWS::WAFv2::WebACL")["ApiWebAcl"]["Properties"]
    assert acl["Scope"] == "REGIONAL" and acl["DefaultAction"] == {"Allow": {}}
    association = resources("AWS::WAFv2::WebACLAssociation")["ApiWebAclAssociation"]["Properties"]
    assert association["WebACLArn"] == {"Fn::GetAtt": "ApiWebAcl.Arn"}
    arn, variables = association["ResourceArn"]["Fn::Sub"]
    assert arn.endswith("::/restapis/${ApiId}/stages/${Stage}") and ":apigateway:" in arn
    assert variables == {"ApiId": {"Ref": "Api"}, "Stage": {"Ref": "Api.Stage"}}


def test_rate_rules_count_per_minute_and_answer_a_429_problem_with_retry_after():
    rules = _waf_rules()
    assert set(rules) == {"public-routes-per-ip", "portal-tokens-per-token", "key-or-token-routes-per-ip"}
    limits = {name: rule["Statement"]["RateBasedStatement"] for name, rule in rules.items()}
    # WAF counts over 300 s unless told; 60 s is its shortest window, so Limit is per minute as the seed's
    assert {n: (r["Limit"], r["EvaluationWindowSec"]) for n, r in limits.items()} == {
        "public-routes-per-ip": (60, 60), "portal-tokens-per-token": (200, 60), "key-or-token-routes-per-ip": (1000, 60)}
    assert all(r["Limit"] >= 10 for r in limits.values())  # WAF's lowest allowed limit
    assert limits["public-routes-per-ip"]["AggregateKeyType"] == "IP"
    assert limits["portal-tokens-per-token"]["AggregateKeyType"] == "CUSTOM_KEYS"
    bodies = resources("AWS::WAFv2::WebACL")["ApiWebAcl"]["Properties"]["CustomResponseBodies"]
    for rule in rules.values():
        response = rule["Action"]["Block"]["CustomResponse"]
        assert response["ResponseCode"] == 429
        assert {h["Name"]: h["Value"] for h in response["ResponseHeaders"]} == {"Retry-After": "60"}
        body = json.loads(bodies[response["CustomResponseBodyKey"]]["Content"])
        assert body["type"] == "/problems/rate-limited" and body["status"] == 429


def test_the_per_ip_rule_covers_exactly_the_unauthenticated_routes_with_or_without_the_stage():
    statement = _waf_rules()["public-routes-per-ip"]["Statement"]["RateBasedStatement"]["ScopeDownStatement"]
    pattern = re.compile(statement["RegexMatchStatement"]["RegexString"])
    assert len(statement["RegexMatchStatement"]["RegexString"]) <= 200  # WAF's regex length limit
    stage = stage_name()
    for route in routes():
        public = route.authorizer is None and not route.api_key_required
        concrete = route.path.replace("{", "").replace("}", "")
        for path in (concrete, f"/{stage}{concrete}"):
            assert bool(pattern.search(path)) == public, path
    for path in ("/v1/items/health", f"/{stage}/v1/items/health", "/api/users/api/auth/login"):
        assert not pattern.search(path), path


def test_the_per_token_rule_counts_jwt_bearers_only():
    from recengine.portal.tokens import looks_like_jwt

    statement = _waf_rules()["portal-tokens-per-token"]["Statement"]["RateBasedStatement"]
    match = statement["ScopeDownStatement"]["ByteMatchStatement"]
    assert match["FieldToMatch"] == {"SingleHeader": {"Name": "authorization"}}
    assert (match["PositionalConstraint"], match["SearchString"]) == ("STARTS_WITH", "bearer eyj")
    assert {t["Type"] for t in match["TextTransformations"]} == {"LOWERCASE", "COMPRESS_WHITE_SPACE"}
    assert statement["CustomKeys"][0]["Header"]["Name"] == "authorization"
    # every portal token has the prefix; an API key (rk_... or an older key) never has a JWT's shape
    assert looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln") and not looks_like_jwt("rk_admin_abc")


def test_the_key_or_token_rule_covers_exactly_those_routes_and_leaves_portal_tokens_to_theirs():
    statement = _waf_rules()["key-or-token-routes-per-ip"]["Statement"]["RateBasedStatement"]
    assert statement["AggregateKeyType"] == "IP"
    path_match, not_token = statement["ScopeDownStatement"]["AndStatement"]["Statements"]
    pattern = re.compile(path_match["RegexMatchStatement"]["RegexString"])
    for route in routes():
        for path in (route.path, f"/{stage_name()}{route.path}"):
            assert bool(pattern.search(path)) == ((route.method, route.path) in KEY_OR_TOKEN), path
    token_scope = _waf_rules()["portal-tokens-per-token"]["Statement"]["RateBasedStatement"]["ScopeDownStatement"]
    assert not_token == {"NotStatement": {"Statement": token_scope}}


def test_the_spark_trainer_is_an_emr_serverless_application_sized_and_stopped_by_parameters():
    """Auto-start on the dispatcher's run, auto-stop when idle, and a capacity ceiling over all its runs."""
    template = load_template()
    (app,) = resources("AWS::EMRServerless::Application").values()
    props = app["Properties"]
    assert props["Type"] == "SPARK" and props["ReleaseLabel"] == {"Ref": "SparkReleaseLabel"}
    assert props["AutoStartConfiguration"] == {"Enabled": True}
    assert props["AutoStopConfiguration"] == {"Enabled": True, "IdleTimeoutMinutes": {"Ref": "SparkIdleTimeoutMinutes"}}
    assert props["MaximumCapacity"] == {"Cpu": {"Ref": "SparkMaxCpu"}, "Memory": {"Ref": "SparkMaxMemory"},
                                        "Disk": {"Ref": "SparkMaxDisk"}}
    for parameter in ("SparkReleaseLabel", "SparkMaxCpu", "SparkMaxMemory", "SparkMaxDisk", "SparkIdleTimeoutMinutes",
                      "SparkJobTimeoutMinutes"):
        assert "Default" in template["Parameters"][parameter], parameter


def test_the_dispatcher_routes_large_tenants_to_spark_and_a_run_state_change_completes_them():
    functions = resources("AWS::Serverless::Function")
    variables = functions["TrainDispatchFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["SPARK_APPLICATION_ID"] == {"Ref": "SparkApplication"}
    assert variables["SPARK_JOB_ROLE_ARN"] == {"Fn::GetAtt": "SparkJobRole.Arn"}
    assert variables["MAX_LAMBDA_TRAINING_EVENTS"] == {"Ref": "MaxLambdaTrainingEvents"}
    complete = functions["TrainCompleteFunction"]["Properties"]
    assert complete["Environment"]["Variables"]["SPARK_APPLICATION_ID"] == {"Ref": "SparkApplication"}
    event, sweep = complete["Events"]["RunEnded"], complete["Events"]["Sweep"]
    assert event["Type"] == "EventBridgeRule" and sweep["Type"] == "ScheduleV2"  # events are best effort
    pattern = event["Properties"]["Pattern"]
    assert pattern["source"] == ["aws.emr-serverless"]
    assert pattern["detail-type"] == ["EMR Serverless Job Run State Change"]
    assert pattern["detail"] == {"applicationId": [{"Ref": "SparkApplication"}],
                                 "state": ["SUCCESS", "FAILED", "CANCELLED"]}


def test_the_spark_exports_expire_and_only_the_dispatcher_starts_runs():
    rules = resources("AWS::S3::Bucket")["ModelBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (exports,) = [r for r in rules if r.get("Prefix") == "exports/"]
    assert exports["Status"] == "Enabled" and exports["ExpirationInDays"] <= 7
    starters = {name for name, fn in resources("AWS::Serverless::Function").items()
                for policy in fn["Properties"].get("Policies") or [] if "Statement" in policy
                for st in policy["Statement"] if "emr-serverless:StartJobRun" in st["Action"]}
    assert starters == {"TrainDispatchFunction"}
