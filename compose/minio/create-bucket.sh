#!/bin/sh
# minio-init (one-shot): the documents bucket and a least-privilege user for the app.
set -eu
: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${HEYSH_S3_BUCKET:?}" "${MINIO_APP_ACCESS_KEY:?}" "${MINIO_APP_SECRET_KEY:?}"

until mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null 2>&1; do
  echo "waiting for minio"; sleep 1
done

mc mb --ignore-existing "local/$HEYSH_S3_BUCKET"
mc anonymous set none "local/$HEYSH_S3_BUCKET"

cat > /tmp/heysh-app-policy.json <<POLICY
{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket"], "Resource": ["arn:aws:s3:::$HEYSH_S3_BUCKET"]},
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], "Resource": ["arn:aws:s3:::$HEYSH_S3_BUCKET/*"]}
  ]
}
POLICY
mc admin policy create local heysh-app /tmp/heysh-app-policy.json >/dev/null 2>&1 || true
mc admin user add local "$MINIO_APP_ACCESS_KEY" "$MINIO_APP_SECRET_KEY"
mc admin policy attach local heysh-app --user "$MINIO_APP_ACCESS_KEY" >/dev/null 2>&1 || true
echo "minio-init: bucket $HEYSH_S3_BUCKET ready"
