"""template.yaml is the single source of truth: check the shape the product relies on."""

from __future__ import annotations

from local.template import load_template, resources, routes, table_env_names, usage_plans
from recengine.billing.plans import PLANS


def test_every_route_but_health_and_the_price_list_requires_an_api_key():
    found = {(r.method, r.path): r.api_key_required for r in routes()}
    assert found.pop(("GET", "/health")) is False
    assert found.pop(("GET", "/v1/billing/plans")) is False  # public, like a pricing page
    assert found and all(found.values())


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


def test_artefact_bucket_is_versioned_encrypted_and_private():
    props = resources("AWS::S3::Bucket")["ModelBucket"]["Properties"]
    assert props["VersioningConfiguration"]["Status"] == "Enabled"
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert all(props["PublicAccessBlockConfiguration"].values())


def test_training_runs_on_a_schedule_and_outputs_name_every_resource():
    train = resources("AWS::Serverless::Function")["TrainFunction"]["Properties"]
    assert train["Events"]["Schedule"]["Type"] in ("Schedule", "ScheduleV2")
    outputs = load_template()["Outputs"]
    for key in ("ApiUrl", "ItemsTableName", "InteractionsTableName", "SessionsTableName", "ModelsTableName",
                "TenantsTableName", "UsageTableName", "ModelBucketName"):
        assert key in outputs


def test_functions_get_least_privilege_policies():
    functions = resources("AWS::Serverless::Function")
    policy_names = lambda fn: [next(iter(p)) for p in functions[fn]["Properties"].get("Policies", [])]  # noqa: E731
    assert "HealthFunction" not in [f for f in functions if functions[f]["Properties"].get("Policies")]
    assert "S3CrudPolicy" not in policy_names("RecommendFunction")
    writes = [p for p in functions["RecommendFunction"]["Properties"]["Policies"] if not next(iter(p)).endswith("ReadPolicy")]
    # Its only write: appending to the exposure log (and querying it for frequency caps).
    assert writes == [{"Statement": [{"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:Query"],
                                      "Resource": {"Fn::GetAtt": "ExposuresTable.Arn"}}]}]
    assert "S3CrudPolicy" in policy_names("TrainFunction")
