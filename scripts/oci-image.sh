#!/usr/bin/env bash
# Pushes a small synthetic image to a plain-HTTP registry and signs it as `cosign sign --key` does,
# with curl and openssl only (for trying signed releases on a machine without cosign or internet).
#
#   scripts/oci-image.sh push HOST REPOSITORY TAG TEXT    push an image whose one layer holds TEXT
#                                                         under TAG; prints its manifest digest
#   scripts/oci-image.sh sign HOST REPOSITORY DIGEST KEY  write cosign's tag-based signature of
#                                                         DIGEST (tag sha256-<hex>.sig) with the
#                                                         EC private key in the PEM file KEY
#
# HOST is host:port of an anonymous registry, e.g. the one scripts/registry.sh starts.
set -euo pipefail

die() { echo "oci-image.sh: $*" >&2; exit 1; }
[ $# -ge 1 ] || { sed -n '2,12s/^# \{0,1\}//p' "$0" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

digest_of() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

# Uploads the file $3 as a blob of repository $2 on $1; prints its digest.
push_blob() {
    local digest location
    digest=$(digest_of "$3")
    location=$(curl -sf -X POST -D - -o /dev/null "http://$1/v2/$2/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    [ -n "$location" ] || die "registry $1 did not start an upload for $2"
    case "$location" in http*) ;; *) location="http://$1$location" ;; esac
    case "$location" in *\?*) location="$location&digest=$digest" ;; *) location="$location?digest=$digest" ;; esac
    curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$3" "$location" > /dev/null ||
        die "registry $1 refused a blob of $2"
    echo "$digest"
}

# Puts the OCI manifest in file $4 under reference $3 of repository $2 on $1; prints its digest.
push_manifest() {
    curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$4" \
        "http://$1/v2/$2/manifests/$3" > /dev/null || die "registry $1 refused the manifest $2:$3"
    digest_of "$4"
}

manifest() { # CONFIG_DIGEST CONFIG_SIZE LAYER_MEDIA_TYPE LAYER_DIGEST LAYER_SIZE [ANNOTATIONS_JSON]
    local annotations=""
    [ -z "${6:-}" ] || annotations=",\"annotations\":$6"
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"%s","digest":"%s","size":%s%s}]}' \
        "$1" "$2" "$3" "$4" "$5" "$annotations"
}

case "${1:-}" in
push)
    [ $# -eq 5 ] || die "usage: push HOST REPOSITORY TAG TEXT"
    host=$2 repository=$3 tag=$4
    printf '%s\n' "$5" > "$work/layer"
    layer=$(push_blob "$host" "$repository" "$work/layer")
    printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]}}' "$layer" > "$work/config"
    config=$(push_blob "$host" "$repository" "$work/config")
    manifest "$config" "$(stat -c %s "$work/config")" application/vnd.oci.image.layer.v1.tar "$layer" "$(stat -c %s "$work/layer")" > "$work/manifest"
    push_manifest "$host" "$repository" "$tag" "$work/manifest"
    ;;
sign)
    [ $# -eq 5 ] || die "usage: sign HOST REPOSITORY DIGEST KEY"
    host=$2 repository=$3 digest=$4 key=$5
    [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || die "$digest is not a sha256 digest"
    printf '{"critical":{"identity":{"docker-reference":"%s/%s"},"image":{"docker-manifest-digest":"%s"},"type":"cosign container image signature"},"optional":null}' \
        "$host" "$repository" "$digest" > "$work/payload"
    signature=$(openssl dgst -sha256 -sign "$key" "$work/payload" | base64 -w0)
    payload=$(push_blob "$host" "$repository" "$work/payload")
    printf '{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":["%s"]}}' "$payload" > "$work/config"
    config=$(push_blob "$host" "$repository" "$work/config")
    manifest "$config" "$(stat -c %s "$work/config")" application/vnd.dev.cosign.simplesigning.v1+json "$payload" \
        "$(stat -c %s "$work/payload")" "{\"dev.cosignproject.cosign/signature\":\"$signature\"}" > "$work/manifest"
    push_manifest "$host" "$repository" "sha256-${digest#sha256:}.sig" "$work/manifest" > /dev/null
    echo "signed $host/$repository@$digest"
    ;;
*) die "unknown command '$1': push or sign" ;;
esac
