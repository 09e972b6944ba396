"""Self-tests of check_template.py: the project's template passes, and each rule fires on a bad
snippet put into a copy of it. Run by lint-template.sh (hence `make lint`, `make test`, CI):

    .venv/bin/python -m unittest infra/scripts/test_check_template.py
"""

import copy
import os
import sys
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import check_template as ct  # noqa: E402

TEMPLATE = os.path.join(HERE, "..", "..", "template.yaml")


def snippet(text):
    """YAML with CloudFormation short tags, loaded as check_template loads the template."""
    return yaml.load(text, Loader=ct.CfnLoader)


class CheckTemplate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        problems = []
        cls.base = ct.load(TEMPLATE, problems)
        assert not problems, problems

    def problems_of(self, mutate):
        t = copy.deepcopy(self.base)
        mutate(t)
        problems = []
        ct.check(t, problems)
        return problems

    def assertFires(self, mutate, *needles):
        problems = self.problems_of(mutate)
        for needle in needles:
            self.assertTrue(any(needle in p for p in problems), f"no problem mentions {needle!r}; got:\n" + "\n".join(problems))

    # Helpers on the copy.
    @staticmethod
    def fn(t, name="ApiEventsFunction"):
        return t["Resources"][name]["Properties"]

    @staticmethod
    def statements(t, name="ApiEventsFunction"):
        return t["Resources"][name]["Properties"]["Policies"][0]["Statement"]

    # ------------------------------------------------------------ the template itself

    def test_the_project_template_passes(self):
        self.assertEqual(self.problems_of(lambda t: None), [])

    # ------------------------------------------------------------ least privilege

    def test_wildcard_action_fires(self):
        self.assertFires(lambda t: self.statements(t).append(snippet("""
            Sid: Everything
            Effect: Allow
            Action: "*"
            Resource: !GetAtt MaxTable.Arn
        """)), "wildcard action '*'")

    def test_service_wildcard_and_partial_wildcard_fire(self):
        def mutate(t):
            self.statements(t)[0]["Action"] = ["dynamodb:*"]
            self.statements(t, "ReplySenderFunction")[0]["Action"].append("dynamodb:Get*")
        self.assertFires(mutate, "wildcard action 'dynamodb:*'", "wildcard action 'dynamodb:Get*'")

    def test_scan_fires(self):
        self.assertFires(lambda t: self.statements(t)[0]["Action"].append("dynamodb:Scan"), "dynamodb:Scan")

    def test_scan_in_any_resource_fires(self):
        def mutate(t):
            t["Resources"]["ExtraPolicy"] = snippet("""
                Type: AWS::IAM::Policy
                Properties:
                  PolicyName: extra
                  Roles: [somebody]
                  PolicyDocument:
                    Statement:
                      - Effect: Allow
                        Action: [dynamodb:Scan]
                        Resource: !GetAtt MaxTable.Arn
            """)
        self.assertFires(mutate, "dynamodb:Scan appears in the template", "ExtraPolicy: statement 0: dynamodb:Scan")

    def test_unknown_dynamodb_action_fires(self):
        # TransactWriteItems is not an IAM action: each item of a transaction needs its own.
        self.assertFires(lambda t: self.statements(t)[0]["Action"].append("dynamodb:TransactWriteItems"), "dynamodb:TransactWriteItems is not one of the item actions")

    def test_resource_star_and_not_action_fire(self):
        def mutate(t):
            self.statements(t)[0]["Resource"] = "*"
            self.statements(t).append({"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"})
        self.assertFires(mutate, 'Resource "*"', "NotAction/NotResource")

    def test_dynamodb_grants_must_match_the_code(self):
        def mutate(t):
            # inbound-processor stores messages (PutItem); api-events never deletes.
            st = self.statements(t, "InboundProcessorFunction")[0]
            st["Action"] = [a for a in st["Action"] if a != "dynamodb:PutItem"]
            self.statements(t)[0]["Action"].append("dynamodb:DeleteItem")
            self.statements(t, "ApiConversationsFunction")[:] = [s for s in self.statements(t, "ApiConversationsFunction") if s.get("Sid") != "IndexQueries"]
        self.assertFires(
            mutate,
            "InboundProcessorFunction: its code calls dynamodb:PutItem",
            "ApiEventsFunction: grants dynamodb:DeleteItem on MaxTable, which its code never calls",
            "ApiConversationsFunction: its code queries an index",
        )

    def test_a_function_without_the_audit_deny_fires(self):
        def mutate(t):
            # api-events loses its deny; reply-sender's deny forgets DeleteItem and
            # api-support's names another partition.
            self.fn(t)["Policies"] = [p for p in self.fn(t)["Policies"] if not any(s.get("Sid") == "AuditEntriesAreNeverEdited" for s in p["Statement"])]
            deny = lambda name: next(s for p in self.fn(t, name)["Policies"] for s in p["Statement"] if s.get("Sid") == "AuditEntriesAreNeverEdited")
            deny("ReplySenderFunction")["Action"].remove("dynamodb:DeleteItem")
            deny("ApiSupportFunction")["Condition"]["ForAnyValue:StringLike"]["dynamodb:LeadingKeys"] = ["ORG#*#TICKET"]
        self.assertFires(
            mutate,
            "ApiEventsFunction: no Deny of dynamodb:UpdateItem",
            "ApiEventsFunction: no Deny of dynamodb:BatchWriteItem",
            "ReplySenderFunction: no Deny of dynamodb:DeleteItem",
            "ApiSupportFunction: no Deny of dynamodb:UpdateItem",
        )
        self.assertEqual([p for p in self.problems_of(lambda t: None) if "audit" in p], [])

    def test_index_query_without_index_use_fires(self):
        self.assertFires(lambda t: self.statements(t, "ApiMediaFunction").append(snippet("""
            Sid: IndexQueries
            Effect: Allow
            Action: [dynamodb:Query]
            Resource: !Sub "${MaxTable.Arn}/index/*"
        """)), "ApiMediaFunction: grants dynamodb:Query on the indexes")

    def test_crud_policy_template_fires(self):
        self.assertFires(
            lambda t: self.fn(t)["Policies"].append(snippet("DynamoDBCrudPolicy: {TableName: !Ref MaxTable}")),
            "managed wildcard policy DynamoDBCrudPolicy",
        )

    def test_full_access_managed_policy_fires(self):
        self.assertFires(lambda t: self.fn(t)["Policies"].append("AmazonDynamoDBFullAccess"), "managed wildcard policy AmazonDynamoDBFullAccess")

    def test_other_policy_templates_fire(self):
        self.assertFires(
            lambda t: self.fn(t)["Policies"].append(snippet("SQSSendMessagePolicy: {QueueName: !GetAtt RepliesQueue.QueueName}")),
            "SAM policy template SQSSendMessagePolicy",
        )

    def test_function_without_policies_fires(self):
        self.assertFires(lambda t: self.fn(t).pop("Policies"), "ApiEventsFunction: no explicit Policies")

    def test_whole_bucket_grant_fires(self):
        def mutate(t):
            st = self.statements(t, "InboundProcessorFunction")
            next(s for s in st if s.get("Sid") == "ReadLargeBodies")["Resource"] = ct.Tagged("!Sub", "${MediaBucket.Arn}/*")
        self.assertFires(mutate, "must be one prefix of the bucket")

    def test_secret_in_globals_fires(self):
        def mutate(t):
            t["Globals"]["Function"]["Environment"]["Variables"]["WHATSAPP_ACCESS_TOKEN"] = ct.Tagged("!Ref", "WhatsAppAccessToken")
        self.assertFires(mutate, "Globals.Function.Environment.Variables.WHATSAPP_ACCESS_TOKEN: every function would get it")

    def test_environment_must_match_needs(self):
        def mutate(t):
            # api-events needs no secret; the webhook needs its app secret.
            self.fn(t)["Environment"] = {"Variables": {"WHATSAPP_APP_SECRET": ct.Tagged("!Ref", "WhatsAppAppSecret")}}
            self.fn(t, "WhatsappWebhookFunction")["Environment"]["Variables"].pop("WHATSAPP_APP_SECRET")
        self.assertFires(
            mutate,
            "ApiEventsFunction: Environment has WHATSAPP_APP_SECRET, which its Needs does not read",
            "WhatsappWebhookFunction: Environment lacks WHATSAPP_APP_SECRET",
        )

    # ------------------------------------------------------------ safe defaults

    def test_http_graph_api_fires(self):
        def mutate(t):
            t["Parameters"]["GraphApiBaseUrl"]["Default"] = "http://graph.facebook.com/v23.0"
            t["Parameters"]["GraphApiBaseUrl"]["AllowedPattern"] = "^https?://.+"
        self.assertFires(mutate, "default 'http://graph.facebook.com/v23.0' is not https", "accepts http://")

    def test_graph_api_without_pattern_fires(self):
        self.assertFires(lambda t: t["Parameters"]["GraphApiBaseUrl"].pop("AllowedPattern"), "needs an AllowedPattern that only accepts https")

    def test_cors_star_fires(self):
        def mutate(t):
            t["Resources"]["MaxHttpApi"]["Properties"]["CorsConfiguration"]["AllowOrigins"] = ["*"]
        self.assertFires(mutate, 'CORS AllowOrigins contains "*"', "must come from a parameter")

    def test_cors_parameter_defaulting_to_star_fires(self):
        def mutate(t):
            t["Parameters"]["DashboardOrigins"]["Default"] = "*"
            t["Parameters"]["DashboardOrigins"].pop("AllowedPattern")
        self.assertFires(mutate, 'CORS origins default contains "*"', 'needs an AllowedPattern that refuses "*"')

    def test_log_level_default_other_than_info_fires(self):
        self.assertFires(lambda t: t["Parameters"]["LogLevel"].update(Default="debug"), "LogLevel: default must be info")

    # ------------------------------------------------------------ data lifetimes

    def test_prefix_without_lifecycle_rule_fires(self):
        def mutate(t):
            rules = t["Resources"]["MediaBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
            rules[:] = [r for r in rules if r.get("Prefix") != "webhooks/unhandled/"]
        self.assertFires(mutate, "S3 prefix webhooks/unhandled/")

    def test_new_granted_prefix_without_lifecycle_rule_fires(self):
        def mutate(t):
            self.statements(t).append(snippet("""
                Sid: PutMedia
                Effect: Allow
                Action: [s3:PutObject]
                Resource: !Sub "${MediaBucket.Arn}/exports/*"
            """))
        self.assertFires(mutate, "S3 prefix exports/ (ApiEventsFunction.Policies[0])")

    def test_disabled_or_non_expiring_rule_does_not_count(self):
        def mutate(t):
            for r in t["Resources"]["MediaBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]:
                if r.get("Prefix") == "inbound/":
                    r["Status"] = "Disabled"
        self.assertFires(mutate, "S3 prefix inbound/")

    def test_table_without_ttl_fires(self):
        self.assertFires(lambda t: t["Resources"]["MaxTable"]["Properties"].pop("TimeToLiveSpecification"), "TTL attribute 'expires_at'")

    # ------------------------------------------------------------ alarms

    def test_dlq_without_alarm_fires(self):
        self.assertFires(lambda t: t["Resources"].pop("RepliesDLQAlarm"), "RepliesDLQ: DLQ of RepliesQueue has no")

    def test_schedule_dlq_without_alarm_fires(self):
        self.assertFires(lambda t: t["Resources"].pop("ReplySweepDLQAlarm"), "ReplySweepDLQ: DLQ of ReplySenderFunction")

    def test_schedule_with_unnamed_dlq_fires(self):
        def mutate(t):
            ev = self.fn(t, "NextStepFunction")["Events"]["SweepOwedNextSteps"]["Properties"]
            ev["DeadLetterConfig"] = {"Type": "SQS"}
        self.assertFires(mutate, "SweepOwedNextSteps: schedule needs DeadLetterConfig.Arn")

    def test_stream_without_on_failure_dlq_or_its_alarm_fires(self):
        # What a stream consumer gives up on after its retries must land in a named DLQ with an
        # alarm, or a lost feed event would go unnoticed.
        def without_destination(t):
            self.fn(t, "WebhookFanoutFunction")["Events"]["FeedEvents"]["Properties"].pop("DestinationConfig")
        self.assertFires(without_destination, "WebhookFanoutFunction.Events.FeedEvents: a stream event needs DestinationConfig.OnFailure.Destination")
        self.assertFires(lambda t: t["Resources"].pop("LivePushDLQAlarm"), "LivePushDLQ: DLQ of LivePushFunction.Events.FeedEvents (stream on-failure destination) has no")

    def test_function_without_error_or_throttle_alarm_fires(self):
        def mutate(t):
            t["Resources"].pop("ApiEventsErrorsAlarm")
            t["Resources"].pop("NextStepThrottlesAlarm")
        self.assertFires(mutate, "ApiEventsFunction: no AWS/Lambda Errors alarm", "NextStepFunction: no AWS/Lambda Throttles alarm")

    def test_alarm_without_action_does_not_count(self):
        self.assertFires(lambda t: t["Resources"]["ApiSupportErrorsAlarm"]["Properties"].pop("AlarmActions"), "ApiSupportFunction: no AWS/Lambda Errors alarm")

    def test_log_alarms_fire(self):
        def mutate(t):
            t["Resources"].pop("WebhookUnauthorizedAlarm")
            t["Resources"].pop("GraphTokenRejectedMetricFilter")
        self.assertFires(mutate, "'webhook signature missing or wrong'", "'WhatsApp access token'")

    # ------------------------------------------------------------ starvation

    def test_reserved_concurrency_fires(self):
        def mutate(t):
            self.fn(t, "WhatsappWebhookFunction").pop("ReservedConcurrentExecutions")
            self.fn(t, "ReplySenderFunction").pop("ReservedConcurrentExecutions")
        self.assertFires(mutate, "WhatsappWebhookFunction: webhook receiver needs ReservedConcurrentExecutions", "ReplySenderFunction: queue worker needs")

    def test_webhook_route_without_own_throttle_fires(self):
        self.assertFires(
            lambda t: t["Resources"]["MaxHttpApi"]["Properties"]["RouteSettings"].pop("POST /webhooks/whatsapp"),
            "webhook route POST /webhooks/whatsapp needs its own RouteSettings throttle",
        )

    # ------------------------------------------------------------ who may act

    @staticmethod
    def pool(t):
        return t["Resources"]["UserPool"]["Properties"]

    def test_self_sign_up_fires(self):
        self.assertFires(lambda t: self.pool(t)["AdminCreateUserConfig"].update(AllowAdminCreateUserOnly=False), "AllowAdminCreateUserOnly must be true")
        self.assertFires(lambda t: self.pool(t).pop("AdminCreateUserConfig"), "AllowAdminCreateUserOnly must be true")

    def test_a_client_that_can_write_the_organisation_fires(self):
        client = lambda t: t["Resources"]["DashboardClient"]["Properties"]  # noqa: E731
        self.assertFires(lambda t: client(t)["WriteAttributes"].append("custom:org_id"), "DashboardClient: WriteAttributes must not include custom:org_id")
        self.assertFires(lambda t: client(t).pop("WriteAttributes"), "DashboardClient: WriteAttributes must be listed")

    def test_a_mutable_or_missing_organisation_attribute_fires(self):
        self.assertFires(lambda t: self.pool(t)["Schema"][0].update(Mutable=True), "custom:org_id must be Mutable: false")
        self.assertFires(lambda t: self.pool(t).update(Schema=[]), "Schema has no custom:org_id")

    def test_a_missing_role_group_fires(self):
        self.assertFires(lambda t: t["Resources"].pop("SupervisorGroup"), "no AWS::Cognito::UserPoolGroup 'supervisor'")

    def test_an_authorizer_trusting_another_issuer_or_audience_fires(self):
        def mutate(t):
            jwt = t["Resources"]["MaxHttpApi"]["Properties"]["Auth"]["Authorizers"]["CognitoJwt"]["JwtConfiguration"]
            jwt["issuer"] = ct.Tagged("!Ref", "CognitoIssuer")
            jwt["audience"] = [ct.Tagged("!Ref", "CognitoAudience")]
        self.assertFires(mutate, "issuer must be the template's user pool", "audience must be the template's app clients")

    # ------------------------------------------------------------ secrets (the numbers' Graph tokens)

    @staticmethod
    def statement(t, function, sid):
        return next(st for st in t["Resources"][function]["Properties"]["Policies"][0]["Statement"] if st.get("Sid") == sid)

    def test_a_secret_written_outside_the_channels_api_fires(self):
        self.assertFires(lambda t: self.statements(t).append(snippet("""
            Sid: WriteTokens
            Effect: Allow
            Action: [secretsmanager:PutSecretValue]
            Resource: !Sub "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:max/${AWS::StackName}/whatsapp/*"
        """)), "ApiEventsFunction: statement WriteTokens: secretsmanager:PutSecretValue on whatsapp/ is for its writers")

    def test_a_secret_read_outside_the_sender_fires(self):
        def mutate(t):
            self.statement(t, "ApiChannelsFunction", "WriteNumbersAccessTokens")["Action"].append("secretsmanager:GetSecretValue")
        self.assertFires(mutate, "ApiChannelsFunction: statement WriteNumbersAccessTokens: secretsmanager:GetSecretValue on whatsapp/ is for its readers")

    def test_a_voice_account_read_outside_the_dialer_and_the_voice_webhook_fires(self):
        def mutate(t):
            self.statement(t, "ReplySenderFunction", "ReadNumbersAccessTokens")["Resource"] = ct.Tagged(
                "!Sub", "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:max/${AWS::StackName}/voice/*")
        self.assertFires(mutate, "ReplySenderFunction: statement ReadNumbersAccessTokens: secretsmanager:GetSecretValue on voice/ is for its readers")

    def test_a_secret_outside_the_stacks_prefix_fires(self):
        def mutate(t):
            self.statement(t, "ReplySenderFunction", "ReadNumbersAccessTokens")["Resource"] = ct.Tagged(
                "!Sub", "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*")
        self.assertFires(mutate, "ReplySenderFunction: statement ReadNumbersAccessTokens: secrets must be named below")

    def test_a_global_access_token_in_the_senders_environment_fires(self):
        def mutate(t):
            self.fn(t, "ReplySenderFunction")["Environment"]["Variables"]["WHATSAPP_ACCESS_TOKEN"] = "one-for-every-number"
        self.assertFires(mutate, "ReplySenderFunction: Environment has WHATSAPP_ACCESS_TOKEN, which its Needs does not read")

    def test_a_secrets_prefix_missing_from_a_function_that_reads_secrets_fires(self):
        self.assertFires(lambda t: self.fn(t, "ApiChannelsFunction")["Environment"]["Variables"].pop("SECRETS_PREFIX"),
                         "ApiChannelsFunction: Environment lacks SECRETS_PREFIX")

    def test_list_bucket_without_a_prefix_condition_or_on_a_prefix_without_lifecycle_fires(self):
        self.assertFires(lambda t: self.statement(t, "ApiChannelsFunction", "ListQuarantinedChanges").pop("Condition"),
                         "s3:ListBucket needs Condition StringLike s3:prefix")
        def elsewhere(t):
            self.statement(t, "ApiChannelsFunction", "ListQuarantinedChanges")["Condition"]["StringLike"]["s3:prefix"] = ["exports/*"]
        self.assertFires(elsewhere, "S3 prefix exports/ (ApiChannelsFunction.Policies[0])")
        def with_objects(t):
            self.statement(t, "ApiChannelsFunction", "ListQuarantinedChanges")["Action"].append("s3:GetObject")
        self.assertFires(with_objects, "s3:ListBucket must have a statement of its own")


    # ------------------------------------------------------------ the WebSocket API (live push)

    def test_a_websocket_without_a_route_or_with_an_open_connect_fires(self):
        self.assertFires(lambda t: t["Resources"].pop("LiveDisconnectRoute"), "LiveWebSocketApi: no $disconnect route")
        def open_connect(t):
            t["Resources"]["LiveConnectRoute"]["Properties"]["AuthorizationType"] = "NONE"
        self.assertFires(open_connect, "LiveConnectRoute: $connect must be authorised")
        def token_in_a_header(t):
            t["Resources"]["LiveAuthorizer"]["Properties"]["IdentitySource"] = ["route.request.header.Authorization"]
        self.assertFires(token_in_a_header, "LiveAuthorizer: a REQUEST authorizer with IdentitySource route.request.querystring.token")

    def test_an_invoke_permission_for_any_api_fires(self):
        def anywhere(t):
            t["Resources"]["LiveInvokePermission"]["Properties"]["SourceArn"] = ct.Tagged("!Sub", "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:*")
        self.assertFires(anywhere, "LiveWebSocketApi: WsConnectionsFunction needs an AWS::Lambda::Permission")

    def test_manage_connections_elsewhere_or_too_wide_fires(self):
        def wide(t):
            self.statement(t, "LivePushFunction", "PushToConnections")["Resource"] = ct.Tagged(
                "!Sub", "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${LiveWebSocketApi}/*")
        self.assertFires(wide, "LivePushFunction: statement PushToConnections: ManageConnections on")
        def elsewhere(t):
            self.statements(t).append(snippet("""
                Sid: Push
                Effect: Allow
                Action: execute-api:ManageConnections
                Resource: !Sub "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${LiveWebSocketApi}/${LiveStage}/POST/@connections/*"
            """))
        self.assertFires(elsewhere, "ApiEventsFunction: statement Push: execute-api:ManageConnections is for ['live-push'] only")

    def test_the_dev_token_secret_in_a_function_fires(self):
        def dev_secret(t):
            self.fn(t, "WsConnectionsFunction")["Environment"]["Variables"]["DEV_JWT_SECRET"] = "max-dev-jwt-secret"
        self.assertFires(dev_secret, "WsConnectionsFunction: Environment has DEV_JWT_SECRET: the dev stack's token secret")
        self.assertFires(lambda t: self.fn(t, "WsConnectionsFunction")["Environment"]["Variables"].pop("JWT_AUDIENCE"),
                         "WsConnectionsFunction: Environment lacks JWT_AUDIENCE")

if __name__ == "__main__":
    unittest.main()
