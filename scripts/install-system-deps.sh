#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (Python/PyTorch and regex for training/, gRPC for the KServe client test, promtool,
# chromium for the playground test),
# only when something is missing, so a warm machine pays nothing and a fresh one ~1 minute.
set -euo pipefail
PY_PKGS=(python3-torch python3-torchvision python3-onnx python3-pytest python3-yaml python3-pil python3-numpy python3-regex)
# matplotlib for the NAS report's Pareto figure (training/nas_report.py, `nas-report`).
PY_PKGS+=(python3-matplotlib)
# gRPC for Python: the independent KServe v2 client of test/integration/kserve.test.ts (stubs made by grpc_tools.protoc).
PY_PKGS+=(python3-grpcio python3-grpc-tools)
# promtool and prometheus for deploy/ (rules checks, unit tests, the Prometheus end-to-end test).
SYS_PKGS=(prometheus)
# chromium for the playground's browser test (driven by playwright-core; no browser download).
SYS_PKGS+=(chromium)
missing=()
for p in "${PY_PKGS[@]}" "${SYS_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
/usr/bin/python3 -c "import torch, torchvision, onnx, pytest, yaml, PIL, numpy, regex, matplotlib, grpc, grpc_tools.protoc"
command -v promtool >/dev/null && command -v prometheus >/dev/null
test -x /usr/bin/chromium
