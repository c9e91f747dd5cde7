#!/bin/sh
# One-shot Temporal namespace setup for Ratchet, the deployed twin of configureNamespace() in infra/temporal.ts:
# wait for the frontend, create the search attributes training runs carry (workflows/search-attributes.ts),
# keep closed runs for a year. Idempotent: an attribute that exists is left alone.
# Used by compose (service temporal-setup) and by the Helm chart (a post-install/upgrade Job).
set -eu
: "${TEMPORAL_ADDRESS:?set TEMPORAL_ADDRESS}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${RATCHET_RETENTION:-8760h}"

tries=0
until temporal operator namespace describe --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "namespace $NAMESPACE on $TEMPORAL_ADDRESS not reachable after 120 s" >&2
    exit 1
  fi
  sleep 2
done

existing="$(temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" --output json)"
for pair in RatchetRunId=Keyword RatchetEnv=Keyword RatchetAlgorithm=Keyword RatchetStep=Int \
  RatchetPolicyVersion=Int RatchetMeanReward=Double RatchetSuccessRate=Double RatchetPaused=Bool; do
  name="${pair%%=*}"
  case "$existing" in
    *"\"$name\""*) echo "search attribute $name: present" ;;
    *)
      temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" \
        --name "$name" --type "${pair#*=}"
      echo "search attribute $name: created" ;;
  esac
done

temporal operator namespace update --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" --retention "$RETENTION"
echo "namespace $NAMESPACE: retention $RETENTION"
