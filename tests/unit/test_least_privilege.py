"""Least privilege, read off template.yaml: no function may write a table or an S3 prefix it only
reads. Each function's writes are declared here with the reason, and the template must grant exactly
those: a new write is a decision made in this file, not a policy widened in passing."""

from __future__ import annotations

import pytest

from local.template import load_template, resources

TABLE_WRITERS = ("DynamoDBCrudPolicy", "DynamoDBWritePolicy")
TABLE_WRITE_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
                       "dynamodb:TransactWriteItems", "dynamodb:*"}
S3_WRITE_ACTIONS = {"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:*"}
WHOLE_BUCKET = "*"

# function -> (tables it writes, S3 key patterns it writes)
WRITES = {
    "HealthFunction": (set(), set()),
    "AuthorizerFunction": (set(), set()),
    "ItemsFunction": ({"ItemsTable", "UsageTable"}, set()),  # items; the plan's item count
    # events; metering; the Respond API's outcomes beside their decision's exposures
    "InteractionsFunction": ({"InteractionsTable", "SessionsTable", "UsageTable", "ExposuresTable"}, set()),
    "RecommendFunction": ({"ExposuresTable", "UsageTable"}, set()),  # the exposure log; metering
    "SimilarFunction": ({"UsageTable"}, set()),  # metering
    # recommend, similar and interactions: events; the exposure log; metering and new users
    "GraphqlFunction": ({"InteractionsTable", "SessionsTable", "ExposuresTable", "UsageTable"}, set()),
    # the overage cap; with Stripe, the tenant's payment customer (`billing#` rows only: LeadingKeys)
    "BillingFunction": ({"UsageTable", "TenantsTable"}, set()),
    "ModelsFunction": ({"ModelsTable"}, set()),  # promote, rollback, training jobs
    "TrainDispatchFunction": ({"ModelsTable"}, set()),  # training jobs and their locks; a Spark run's version
    "TrainFunction": ({"ModelsTable"}, {"tenants/*/models/*"}),  # versions, jobs, markers; artefacts
    # a Spark run's version, its job and the trained marker; retention deletes old artefacts
    "TrainCompleteFunction": ({"ModelsTable"}, {"tenants/*/models/*"}),
    "BatchFunction": ({"ModelsTable", "InteractionsTable", "UsageTable"}, set()),  # jobs; a segment's new users
    "BatchWorkerFunction": ({"ModelsTable", "InteractionsTable"}, {"tenants/*/batch/*"}),  # jobs, lists; outputs
    "UsersFunction": ({"ModelsTable"}, set()),  # erasure job rows
    # a sign-up records its tenant (`tenant#` rows only: the statement's LeadingKeys condition)
    "PortalAuthFunction": ({"TenantsTable"}, set()),
    "PortalUsersFunction": ({"InteractionsTable", "ModelsTable"}, set()),  # end-user rows; erasure job rows
    # stored lists (an item removed) and their index, seen-user markers; batch jobs; a segment's new users
    "StoredRecommendationsFunction": ({"InteractionsTable", "ModelsTable", "UsageTable"}, set()),
    "AnalyticsFunction": (set(), set()),  # reads the counters the traffic keeps
    "DecisioningFunction": ({"ModelsTable"}, set()),  # decisioning objects (flows)
    "DecisioningRoutingFunction": ({"ModelsTable"}, set()),  # decisioning objects (routing rules)
    "DecisioningRulesFunction": ({"ModelsTable"}, set()),  # decisioning objects (rules)
    "ContactPoliciesFunction": ({"ModelsTable"}, set()),  # decisioning objects (policies)
    "ExperimentsFunction": ({"ModelsTable"}, set()),  # decisioning objects (experiments)
    # user erasure: deletes the user's rows; the user count; job rows, the trained marker; batch outputs rewritten
    "UserErasureFunction": ({"InteractionsTable", "SessionsTable", "ExposuresTable", "UsageTable", "ModelsTable"},
                            {"tenants/*/batch/*"}),
}


def _ref(value) -> str:
    """The logical id a policy resource points at (Ref, GetAtt X.Arn, or Sub "${X.Arn}/prefix")."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return (target.split(".")[0] if isinstance(target, str) else target[0])
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            return text.split("${")[1].split(".")[0].split("}")[0]
    return str(value)


def _s3_pattern(resource) -> str:
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        text = resource["Fn::Sub"] if isinstance(resource["Fn::Sub"], str) else resource["Fn::Sub"][0]
        return text.split("}", 1)[1].lstrip("/") or WHOLE_BUCKET
    return WHOLE_BUCKET


def _statements(policy: dict) -> list[dict]:
    return [policy["Statement"]] if isinstance(policy["Statement"], dict) else policy["Statement"]


def granted_writes(function: str) -> tuple[set[str], set[str]]:
    props = resources("AWS::Serverless::Function")[function]["Properties"]
    tables: set[str] = set()
    objects: set[str] = set()
    for policy in props.get("Policies", []) or []:
        (kind, body), = policy.items()
        if kind in TABLE_WRITERS:
            tables.add(_ref(body["TableName"]))
        elif kind in ("S3CrudPolicy", "S3WritePolicy", "S3FullAccessPolicy"):
            objects.add(WHOLE_BUCKET)
        elif kind == "Statement":
            for statement in _statements(policy):
                actions = {statement["Action"]} if isinstance(statement["Action"], str) else set(statement["Action"])
                resources_ = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                for resource in resources_:
                    if actions & TABLE_WRITE_ACTIONS:
                        tables.add(_ref(resource))
                    if actions & S3_WRITE_ACTIONS:
                        objects.add(_s3_pattern(resource))
    for policy in resources("AWS::IAM::Policy").values():  # roles given a write by a standalone policy
        document = policy["Properties"]
        if {"Ref": f"{function}Role"} in document.get("Roles", []):
            for statement in _statements(document["PolicyDocument"]):
                actions = {statement["Action"]} if isinstance(statement["Action"], str) else set(statement["Action"])
                if actions & TABLE_WRITE_ACTIONS:
                    tables.add(_ref(statement["Resource"]))
    return tables, objects


def test_every_function_is_declared():
    assert set(resources("AWS::Serverless::Function")) == set(WRITES)


@pytest.mark.parametrize("function", sorted(WRITES))
def test_a_function_writes_exactly_what_it_is_declared_to_write(function):
    assert granted_writes(function) == WRITES[function]


# The writers of the tenants table besides the admin CLI, each on its own rows only (a LeadingKeys
# condition): the portal's sign-up (`tenant#` rows), billing's payment customer (`billing#` rows).
TENANT_ROW_WRITERS = {"PortalAuthFunction": "tenant#*", "BillingFunction": "billing#*"}


def test_no_function_writes_the_tenants_table_or_the_whole_bucket():
    for function in WRITES:
        tables, objects = granted_writes(function)
        if function not in TENANT_ROW_WRITERS:
            assert "TenantsTable" not in tables, function  # key bindings: the admin CLI only
    for function, rows in TENANT_ROW_WRITERS.items():  # each writer's statements on the table name its rows
        from local.iam import function_statements, table_arn

        on_table = [st for st in function_statements(function) if table_arn("TenantsTable") in st.resources
                    and set(st.actions) & TABLE_WRITE_ACTIONS]
        assert on_table and all(st.conditions == (("ForAllValues:StringLike", "dynamodb:LeadingKeys", (rows,)),)
                                for st in on_table), (function, on_table)
        assert WHOLE_BUCKET not in objects, function


def test_the_sign_up_writes_tenant_rows_only_never_key_bindings():
    props = resources("AWS::Serverless::Function")["PortalAuthFunction"]["Properties"]
    grants = [st for policy in props["Policies"] if "Statement" in policy for st in _statements(policy)
              if _ref(st["Resource"]) == "TenantsTable"]
    writes = [st for st in grants if set(_actions(st)) - {"dynamodb:GetItem"}]
    assert writes and all(st["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["tenant#*"]}}
                          for st in writes)
    # register with an admin API key reads the value's digest row and the key binding, never more
    reads = [st for st in grants if st not in writes]
    assert all(_actions(st) == ["dynamodb:GetItem"] for st in reads)
    assert all(st["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] for st in grants)


def _actions(statement: dict) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def test_billing_writes_its_billing_rows_only_and_only_with_stripe_configured():
    """The payment customer's row: a PutItem limited to `billing#` keys, in a policy that exists only
    when the deployment names a Stripe key (HasStripeSecret), never on tenant rows or key bindings."""
    policies = {name: p for name, p in resources("AWS::IAM::Policy").items()
                if {"Ref": "BillingFunctionRole"} in p["Properties"]["Roles"]}
    writes = [(name, st) for name, p in policies.items() for st in _statements(p["Properties"]["PolicyDocument"])
              if _ref(st["Resource"]) == "TenantsTable"]
    assert [name for name, _ in writes] == ["StripeSecretPolicy"]
    assert policies["StripeSecretPolicy"]["Condition"] == "HasStripeSecret"
    (_, statement), = writes
    assert statement["Action"] == "dynamodb:PutItem"
    assert statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["billing#*"]}}


def test_the_checker_sees_writes_and_prefixes():
    """The checker itself: a SAM CRUD policy, a standalone policy and a prefixed S3 statement count."""
    assert "ModelsTable" in granted_writes("TrainFunction")[0]
    assert "UsageTable" in granted_writes("SimilarFunction")[0]
    assert granted_writes("BatchWorkerFunction")[1] == {"tenants/*/batch/*"}


# Functions that pseudonymise callers (recengine.attribution.service.Pseudonyms), the only ones
# that may read the pseudonym key's secret: exposures (recommend), outcomes (interactions), and the
# erasure of a user's exposures and outcomes, found by the user's pseudonym (user_erasure).
SECRET_READERS = {"RecommendFunction", "InteractionsFunction", "GraphqlFunction", "UserErasureFunction"}


def test_only_the_functions_that_pseudonymise_may_read_the_pseudonym_key():
    from local.iam import Need, allowed, function_statements, secret_arn

    read = Need("secretsmanager:GetSecretValue", secret_arn("PseudonymSecret"))
    granted = {f for f in WRITES if allowed(function_statements(f), read)}
    configured = {f for f, fn in resources("AWS::Serverless::Function").items()
                  if "PSEUDONYM_SECRET_ID" in ((fn["Properties"].get("Environment") or {}).get("Variables") or {})}
    assert granted == configured == SECRET_READERS
    for function in WRITES:  # no wider secretsmanager grant anywhere: that one action on that one secret
        for statement in function_statements(function):
            if any(a.lower().startswith("secretsmanager:") or a == "*" for a in statement.actions):
                assert statement.actions == ("secretsmanager:GetSecretValue",), (function, statement.source)
                if statement.source == "StripeSecretPolicy":  # the Stripe key: see the test below
                    continue
                assert statement.resources == (secret_arn("PseudonymSecret"),), (function, statement.source)


def test_only_billing_may_read_the_stripe_key_and_only_when_the_deployment_names_it():
    """GetSecretValue on exactly the StripeSecretArn parameter's secret, for the billing function,
    in a policy that exists only with HasStripeSecret; the same condition gives it STRIPE_SECRET_ID."""
    template = load_template()
    readers = {name: p for name, p in resources("AWS::IAM::Policy").items()
               if any(st.get("Action") == "secretsmanager:GetSecretValue"
                      and st.get("Resource") == {"Ref": "StripeSecretArn"}
                      for st in _statements(p["Properties"]["PolicyDocument"]))}
    assert list(readers) == ["StripeSecretPolicy"]
    policy = readers["StripeSecretPolicy"]
    assert policy["Condition"] == "HasStripeSecret"
    assert policy["Properties"]["Roles"] == [{"Ref": "BillingFunctionRole"}]
    assert template["Conditions"]["HasStripeSecret"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "StripeSecretArn"}, ""]}]}
    configured = {f for f, fn in resources("AWS::Serverless::Function").items()
                  if "STRIPE_SECRET_ID" in ((fn["Properties"].get("Environment") or {}).get("Variables") or {})}
    assert configured == {"BillingFunction"}
    variables = resources("AWS::Serverless::Function")["BillingFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["STRIPE_SECRET_ID"] == {"Fn::If": ["HasStripeSecret", {"Ref": "StripeSecretArn"},
                                                        {"Ref": "AWS::NoValue"}]}


def _role_statements(role: str) -> list[dict]:
    props = resources("AWS::IAM::Role")[role]["Properties"]
    return [st for policy in props["Policies"] for st in _statements(policy["PolicyDocument"])]


def test_the_spark_job_role_writes_only_exports_and_model_artefacts_and_reads_only_its_inputs():
    """The job runs' role: assumed by EMR Serverless of this account alone; S3 writes on exports/ and
    model artefacts only, reads of the code and the exports; DynamoDB queries of the events index
    and the catalogue, never a write; logs of its own group."""
    props = resources("AWS::IAM::Role")["SparkJobRole"]["Properties"]
    (trust,) = props["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "emr-serverless.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    writes, reads, dynamo = set(), set(), []
    for st in _role_statements("SparkJobRole"):
        actions = set(_actions(st))
        resources_ = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        if actions & S3_WRITE_ACTIONS:
            writes |= {_s3_pattern(r) for r in resources_}
        if "s3:GetObject" in actions:
            reads |= {_s3_pattern(r) for r in resources_}
        if any(a.startswith("dynamodb:") for a in actions):
            dynamo.append(st)
        assert "*" not in actions and not any(a.endswith(":*") for a in actions), st
        assert not actions & {"iam:PassRole", "emr-serverless:StartJobRun"}, st
    assert writes == {"exports/*", "tenants/*/models/*"}
    assert reads == {"spark/*", "exports/*"}
    query, profiles = dynamo
    assert _actions(query) == _actions(profiles) == ["dynamodb:Query"]
    assert query["Resource"] == [{"Fn::Sub": "${InteractionsTable.Arn}/index/by_tenant"},
                                 {"Fn::GetAtt": "ItemsTable.Arn"}]
    # on the base table, the tenants' end-user profiles only (the inactive users left out of training)
    assert profiles["Resource"] == {"Fn::GetAtt": "InteractionsTable.Arn"}
    assert profiles["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["*#profiles"]}}


def test_only_the_dispatcher_may_pass_the_spark_job_role_and_only_to_emr_serverless():
    from local.iam import function_statements

    passers = {}
    for function in WRITES:
        for statement in function_statements(function):
            if any(a.lower() in ("iam:passrole", "iam:*", "*") for a in statement.actions):
                passers[function] = statement
    assert set(passers) == {"TrainDispatchFunction"}
    statement = passers["TrainDispatchFunction"]
    assert statement.conditions == (("StringEquals", "iam:PassedToService", ("emr-serverless.amazonaws.com",)),)
