#!/bin/sh
# Install Debian's Prometheus Pushgateway and promtool (package `prometheus`) for
# `make test-metrics`, unless both are already there. Needs root or sudo; idempotent.
set -eu

if command -v prometheus-pushgateway >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    exit 0
fi

as_root=""
if [ "$(id -u)" != 0 ]; then
    as_root="sudo"
fi

# RUNLEVEL=1: the packages' scripts install their services without starting them
$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
    apt-get install -y -qq --no-install-recommends prometheus-pushgateway prometheus >/dev/null
command -v prometheus-pushgateway >/dev/null && command -v promtool >/dev/null
