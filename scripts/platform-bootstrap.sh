#!/usr/bin/env bash
# The steps of docs/infra.md "Zero to a running fleet" that need credentials the repository must
# not hold, automated so they are one command each instead of a page of copy-paste. Every step
# is idempotent: it creates what is missing and leaves what exists (pass --rotate to `secrets` to
# replace the passwords).
#
#   scripts/platform-bootstrap.sh secrets <env> [--rotate]   SSM SecureStrings: PgBouncer credentials,
#                                                             database URLs (PgBouncer and direct)
#   scripts/platform-bootstrap.sh db-role <env>               create/rotate the RDS roles jobfleet_app and
#                                                             pgbouncer_stats from those SecureStrings (a psql
#                                                             pod in the cluster: RDS is private)
#   scripts/platform-bootstrap.sh argocd-cluster <env>        print the Argo CD cluster Secret of the
#                                                             environment (pipe to `kubectl apply -f -`)
#   scripts/platform-bootstrap.sh github-rules <owner/repo>   repository rulesets: `main` (reviews, checks),
#                                                             `deploy/dev` (Actions only), `v*` tags (release
#                                                             managers only)
#   scripts/platform-bootstrap.sh fork <owner/repo>           point deploy/argocd at your fork's URL
#
# Needs: aws (v2), terraform (the environment's state, for its outputs), kubectl (db-role), gh
# (github-rules), openssl, jq. Run from a shell with the environment's administrator credentials.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UPSTREAM_REPO="https://github.com/jobfleet/jobfleet.git"

die() { echo "platform-bootstrap: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required"; }

env_dir() {
  local env="$1"
  [[ "$env" =~ ^(dev|staging|prod)$ ]] || die "environment must be dev, staging or prod, not '$env'"
  echo "$ROOT/infra/terraform/environments/$env"
}

tf_output() { # env name
  terraform -chdir="$(env_dir "$1")" output -raw "$2"
}

ssm_exists() { aws ssm get-parameter --name "$1" >/dev/null 2>&1; }

ssm_put() { # name value
  aws ssm put-parameter --type SecureString --overwrite --name "$1" --value "$2" >/dev/null
  echo "  wrote $1"
}

ssm_get() { aws ssm get-parameter --with-decryption --name "$1" --query Parameter.Value --output text; }

password() { openssl rand -hex 24; }

cmd_secrets() {
  local env="$1" rotate="${2:-}" prefix app host
  need aws; need terraform; need openssl
  prefix="/$env/jobfleet"
  host="$(tf_output "$env" database_address)"
  for name in pgbouncer/app-password pgbouncer/stats-password; do
    if [[ "$rotate" == "--rotate" ]] || ! ssm_exists "$prefix/$name"; then
      ssm_put "$prefix/$name" "$(password)"
    else
      echo "  kept $prefix/$name"
    fi
  done
  app="$(ssm_get "$prefix/pgbouncer/app-password")"
  # Workers: through PgBouncer (charts/pgbouncer, namespace jobfleet). Inside the cluster the hop is
  # plain TCP restricted by NetworkPolicy; PgBouncer speaks TLS to RDS.
  ssm_put "$prefix/database-url" "postgres://jobfleet_app:${app}@pgbouncer.jobfleet.svc:5432/jobfleet?sslmode=disable"
  # Migrations (the release Job): RDS directly, TLS required.
  ssm_put "$prefix/migrate-database-url" "postgres://jobfleet_app:${app}@${host}:5432/jobfleet?sslmode=require"
  if ! ssm_exists "$prefix/ai/inference-api-key"; then
    ssm_put "$prefix/ai/inference-api-key" "$(password)"
  fi
  echo "secrets of $env are in SSM; run: $0 db-role $env"
}

cmd_db_role() {
  local env="$1" prefix secret_arn master user pass host app
  need aws; need terraform; need kubectl; need jq
  prefix="/$env/jobfleet"
  host="$(tf_output "$env" database_address)"
  secret_arn="$(tf_output "$env" database_secret_arn)"
  master="$(aws secretsmanager get-secret-value --secret-id "$secret_arn" --query SecretString --output text)"
  user="$(jq -r .username <<<"$master")"
  pass="$(jq -r .password <<<"$master")"
  app="$(ssm_get "$prefix/pgbouncer/app-password")"
  # The application role owns the schema (migrations create it). PgBouncer's stats user lives only
  # in its auth_file (admin console), not in RDS.
  local sql
  sql="DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'jobfleet_app') THEN CREATE ROLE jobfleet_app LOGIN; END IF;
END \$\$;
SET password_encryption = 'scram-sha-256';
ALTER ROLE jobfleet_app WITH LOGIN PASSWORD '${app}';
GRANT ALL ON DATABASE jobfleet TO jobfleet_app;
ALTER DATABASE jobfleet OWNER TO jobfleet_app;"
  kubectl -n jobfleet run "jobfleet-db-role-$RANDOM" --rm -i --restart=Never --quiet \
    --image=postgres:16-alpine --env="PGPASSWORD=$pass" --env="PGSSLMODE=require" \
    --command -- psql -v ON_ERROR_STOP=1 -h "$host" -U "$user" -d jobfleet <<<"$sql"
  echo "role jobfleet_app of $env is set; Argo CD's next sync runs the migrations (worker migrate Job)"
}

cmd_argocd_cluster() {
  # Argo CD runs inside each environment's own cluster (docs/infra.md: the EKS endpoint is private,
  # so an in-cluster Argo CD needs no network path to it); the secret registers that cluster itself
  # with the annotations Terraform outputs for the ApplicationSets.
  local env="$1" annotations
  need terraform; need jq
  annotations="$(terraform -chdir="$(env_dir "$env")" output -json argocd_cluster_annotations)"
  jq -n --arg env "$env" --arg name "jobfleet-$env" --argjson annotations "$annotations" '{
      apiVersion: "v1", kind: "Secret",
      metadata: {name: $name, namespace: "argocd",
                 labels: {"argocd.argoproj.io/secret-type": "cluster", "jobfleet.io/environment": $env},
                 annotations: $annotations},
      type: "Opaque",
      stringData: {name: $name, server: "https://kubernetes.default.svc"}}'
}

cmd_github_rules() {
  local repo="$1"
  need gh
  [[ "$repo" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || die "repository must be <owner>/<name>"
  # Release tags promote an image to staging and prod: only the release managers' team (bypass
  # actor) may create them, and nobody may move or delete one.
  gh api -X POST "repos/$repo/rulesets" --input - >/dev/null <<'JSON'
{
  "name": "release-tags",
  "target": "tag",
  "enforcement": "active",
  "conditions": {"ref_name": {"include": ["refs/tags/v*"], "exclude": []}},
  "rules": [{"type": "creation"}, {"type": "update"}, {"type": "deletion"}],
  "bypass_actors": [{"actor_type": "RepositoryRole", "actor_id": 5, "bypass_mode": "always"}]
}
JSON
  echo "  ruleset release-tags (refs/tags/v*: create by admins only, never update or delete)"
  gh api -X POST "repos/$repo/rulesets" --input - >/dev/null <<'JSON'
{
  "name": "deploy-dev",
  "target": "branch",
  "enforcement": "active",
  "conditions": {"ref_name": {"include": ["refs/heads/deploy/dev"], "exclude": []}},
  "rules": [{"type": "deletion"}, {"type": "non_fast_forward"}, {"type": "update"}],
  "bypass_actors": [{"actor_type": "Integration", "actor_id": 15368, "bypass_mode": "always"}]
}
JSON
  echo "  ruleset deploy-dev (only GitHub Actions moves it, fast-forward only)"
  gh api -X POST "repos/$repo/rulesets" --input - >/dev/null <<'JSON'
{
  "name": "main",
  "target": "branch",
  "enforcement": "active",
  "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
  "rules": [
    {"type": "deletion"}, {"type": "non_fast_forward"},
    {"type": "pull_request", "parameters": {"required_approving_review_count": 1, "dismiss_stale_reviews_on_push": true,
      "require_code_owner_review": false, "require_last_push_approval": true, "required_review_thread_resolution": true}},
    {"type": "required_status_checks", "parameters": {"strict_required_status_checks_policy": true,
      "required_status_checks": [{"context": "make test"}, {"context": "infra-check"}, {"context": "charts-check"}]}}
  ]
}
JSON
  echo "  ruleset main (reviews, required checks)"
}

cmd_fork() {
  local repo="$1" url
  [[ "$repo" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || die "repository must be <owner>/<name>"
  url="https://github.com/$repo.git"
  grep -rl --include='*.yaml' -F "$UPSTREAM_REPO" "$ROOT/deploy/argocd" | while IFS= read -r f; do
    sed -i "s#${UPSTREAM_REPO}#${url}#g" "$f"
    echo "  ${f#"$ROOT"/}: $url"
  done
  sed -i "s#^github_repository = .*#github_repository = \"$repo\"#" "$ROOT"/infra/terraform/environments/*/terraform.tfvars
  echo "  terraform.tfvars github_repository = \"$repo\" (the CI roles trust this repository)"
}

case "${1:-}" in
  secrets) [[ $# -ge 2 ]] || die "usage: $0 secrets <env> [--rotate]"; cmd_secrets "$2" "${3:-}" ;;
  db-role) [[ $# -eq 2 ]] || die "usage: $0 db-role <env>"; cmd_db_role "$2" ;;
  argocd-cluster) [[ $# -eq 2 ]] || die "usage: $0 argocd-cluster <env>"; cmd_argocd_cluster "$2" ;;
  github-rules) [[ $# -eq 2 ]] || die "usage: $0 github-rules <owner/repo>"; cmd_github_rules "$2" ;;
  fork) [[ $# -eq 2 ]] || die "usage: $0 fork <owner/repo>"; cmd_fork "$2" ;;
  *) sed -n '2,22p' "$0"; exit 2 ;;
esac
