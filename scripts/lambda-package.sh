#!/usr/bin/env bash
# Builds vmx's AWS Lambda packages (runtime provided.al2023): the vmx
# binary as `bootstrap`, zipped per architecture, and the CloudFormation
# template beside them.
#   scripts/lambda-package.sh [OUT_DIR]   (default dist/lambda)
# The zips are reproducible: the same commit and Go version give the same
# bytes (fixed timestamps, no extra attributes, bootstrap mode 0755).
set -euo pipefail
cd "$(dirname "$0")/.."
go=${GO:-go}
out=${1:-dist/lambda}
bucket=${ARTIFACT_BUCKET:-<artifact-bucket>}

mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# zip stores local time: pin both the file's time and the zone.
export TZ=UTC
zipone() { # zipone DIR ZIP: DIR/bootstrap -> ZIP
  local dir=$1 zipfile=$2
  chmod 0755 "$dir/bootstrap"
  touch -t 198001010000 "$dir/bootstrap"
  rm -f "$zipfile"
  if command -v zip >/dev/null; then
    (cd "$dir" && zip -q -X -9 "$zipfile" bootstrap)
  else
    python3 - "$dir/bootstrap" "$zipfile" <<'EOF'
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
info.create_system = 3  # Unix, so that Lambda sees the mode
info.external_attr = 0o100755 << 16
info.compress_type = zipfile.ZIP_DEFLATED
with open(src, "rb") as f, zipfile.ZipFile(dst, "w") as z:
    z.writestr(info, f.read(), compresslevel=9)
EOF
  fi
}

sums=()
for arch in arm64:arm64 amd64:x86_64; do
  goarch=${arch%%:*} name=${arch##*:}
  mkdir -p "$tmp/$goarch"
  echo "lambda: building bootstrap for linux/$goarch"
  CGO_ENABLED=0 GOOS=linux GOARCH=$goarch "$go" build -tags lambda.norpc -trimpath -ldflags "-s -w" \
    -o "$tmp/$goarch/bootstrap" ./cmd/vmx
  zipfile=$(cd "$out" && pwd)/vmx-lambda-$name.zip
  zipone "$tmp/$goarch" "$zipfile"
  sums+=("$name $(sha256sum "$zipfile" | cut -d' ' -f1) $zipfile")
done

if [ -f deploy/aws/template.yaml ]; then
  cp deploy/aws/template.yaml "$out/template.yaml"
else
  echo "lambda: deploy/aws/template.yaml does not exist yet; no template copied" >&2
fi

echo
echo "sha256:"
for s in "${sums[@]}"; do
  read -r name sum _ <<<"$s"
  echo "  $sum  $out/vmx-lambda-$name.zip"
done
echo
# The key carries the zip's hash: CloudFormation updates a function's code
# only when ArtifactKey changes.
echo "upload (set ARTIFACT_BUCKET to name your bucket):"
for s in "${sums[@]}"; do
  read -r name sum _ <<<"$s"
  echo "  aws s3 cp $out/vmx-lambda-$name.zip s3://$bucket/vmx/${sum:0:16}/vmx-lambda-$name.zip"
done
echo
echo "deploy (plus your Connect parameters, see docs/deploy-aws.md):"
for s in "${sums[@]}"; do
  read -r name sum _ <<<"$s"
  echo "  $name: aws cloudformation deploy --template-file $out/template.yaml --stack-name vmx --capabilities CAPABILITY_IAM \\"
  echo "      --parameter-overrides ArtifactBucket=$bucket ArtifactKey=vmx/${sum:0:16}/vmx-lambda-$name.zip Architecture=$name ..."
done
