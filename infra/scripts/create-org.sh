#!/usr/bin/env bash
# Creates an organisation and its first admin in a deployed stack's Cognito user pool: the user
# gets the immutable attribute custom:org_id (the organisation every API call acts in) and joins
# the group admin (the role). Cognito e-mails the user a temporary password. Nothing is written to
# DynamoDB: an organisation is its id; its admin registers its WhatsApp numbers through the API.
# Later users of the same organisation: the same command with the same org id and another
# group (admin, supervisor, agent).
#
# Usage: infra/scripts/create-org.sh <stack-name> <admin-email> [org-id] [display-name] [group]
#   org-id       1 to 64 of A-Z a-z 0-9 _ - (default: a new org_<16 hex digits>)
#   group        admin (default), supervisor or agent
# Needs the AWS CLI with credentials allowed cloudformation:DescribeStacks,
# cognito-idp:AdminCreateUser and cognito-idp:AdminAddUserToGroup (AWS_REGION / AWS_PROFILE as usual).
set -euo pipefail

usage() {
  sed -n '9,11p' "$0" >&2
  exit 2
}
if [ $# -lt 2 ] || [ $# -gt 5 ]; then usage; fi
stack="$1"
email="$2"
org_id="${3:-org_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')}"
name="${4:-}"
group="${5:-admin}"

[[ "$org_id" =~ ^[A-Za-z0-9_-]{1,64}$ ]] || { echo "create-org: org id must be 1 to 64 of A-Z a-z 0-9 _ -" >&2; exit 2; }
[[ "$email" =~ ^[^[:space:]@\"\\]+@[^[:space:]@\"\\]+$ ]] || { echo "create-org: $email is not an e-mail address" >&2; exit 2; }
case "$group" in admin | supervisor | agent) ;; *) echo "create-org: group must be admin, supervisor or agent" >&2; exit 2 ;; esac
[[ "$name" != *[\"\\]* ]] || { echo "create-org: the display name may not contain \" or \\" >&2; exit 2; }

pool="$(aws cloudformation describe-stacks --stack-name "$stack" \
  --query "Stacks[0].Outputs[?OutputKey=='UserPoolId'].OutputValue" --output text)"
[[ -n "$pool" && "$pool" != "None" ]] || { echo "create-org: stack $stack has no UserPoolId output" >&2; exit 1; }

# JSON, not the CLI's shorthand, so a display name with commas or spaces stays one value.
attributes="[{\"Name\":\"email\",\"Value\":\"$email\"},{\"Name\":\"email_verified\",\"Value\":\"true\"},{\"Name\":\"custom:org_id\",\"Value\":\"$org_id\"}"
[ -z "$name" ] || attributes+=",{\"Name\":\"name\",\"Value\":\"$name\"}"
attributes+="]"

aws cognito-idp admin-create-user \
  --user-pool-id "$pool" \
  --username "$email" \
  --user-attributes "$attributes" \
  --desired-delivery-mediums EMAIL \
  --query 'User.Username' --output text >/dev/null
aws cognito-idp admin-add-user-to-group \
  --user-pool-id "$pool" \
  --username "$email" \
  --group-name "$group"

echo "organisation $org_id: $email is $group (user pool $pool); Cognito e-mailed a temporary password"
