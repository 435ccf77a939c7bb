#!/usr/bin/env bash
# Builds the project's images offline with Debian's buildah (no registry, no Docker daemon):
#   localhost/debian-base:bookworm    debootstrap --variant=minbase (+ python3, venv, libgomp1, CA certificates)
#   localhost/automl-worker:0.1.0      docker/Dockerfile          (the trial worker)
#   localhost/automl-airflow:0.1.0     docker/Dockerfile.airflow  (the Airflow services)
#   localhost/automl-postgres:15       docker/Dockerfile.postgres (Debian's postgresql-15, for the compose stack)
# Every FROM resolves to the local base image (build argument BASE_IMAGE, --pull=never). pip inside the
# builds reaches the package index given as PIP_INDEX_URL (default: the host's pip config, else PyPI), with
# the host's CA bundle and the local wheel folder (the CPU torch wheel) mounted read-only, never copied in.
# The postgres build runs apt-get inside the build against the base's Debian mirror (its sources.list).
# Storage, run state and the container config files live under $AUTOML_IMAGES_DIR (default .automl/images).
#
# usage: scripts/images.sh build|clean|sizes|env|save IMAGE FILE
#   build   builds what is missing; a second run reuses the base and the cached layers
#   clean   removes every image, container and file under $AUTOML_IMAGES_DIR
#   sizes   the images' sizes and the worker's biggest folders
#   env     prints the exports that point podman/buildah at this storage (eval "$(scripts/images.sh env)")
#   save    podman save --format oci-archive IMAGE to FILE (for `ctr images import`)
# Needs root and Debian's buildah podman runc debootstrap (installed with apt-get if missing).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${AUTOML_IMAGES_DIR:-$ROOT/.automl/images}
BASE_IMAGE=${BASE_IMAGE:-localhost/debian-base:bookworm}
WORKER_IMAGE=${WORKER_IMAGE:-localhost/automl-worker:0.1.0}
AIRFLOW_IMAGE=${AIRFLOW_IMAGE:-localhost/automl-airflow:0.1.0}
POSTGRES_IMAGE=${POSTGRES_IMAGE:-localhost/automl-postgres:15}
SUITE=${DEBIAN_SUITE:-bookworm}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

now() { date +%s.%N; }
took() { printf '%s: %.1f s\n' "$1" "$(echo "$(now) - $2" | bc)"; }

write_config() {
    mkdir -p "$DIR/conf" "$DIR/storage" "$DIR/run" "$DIR/tmp"
    cat >"$DIR/conf/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$DIR/storage"
runroot = "$DIR/run"
EOF
    # netns host: podman must never create a bridge or iptables chains on this machine;
    # default_ulimits: without them runc fails with "error setting rlimit" here
    cat >"$DIR/conf/containers.conf" <<EOF
[containers]
netns = "host"
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
tmp_dir = "$DIR/tmp"
EOF
    export CONTAINERS_STORAGE_CONF=$DIR/conf/storage.conf CONTAINERS_CONF=$DIR/conf/containers.conf
    export BUILDAH_ISOLATION=chroot TMPDIR=$DIR/tmp
}

need_tools() {
    local missing=()
    for tool in buildah podman runc debootstrap bc; do command -v "$tool" >/dev/null || missing+=("$tool"); done
    if ((${#missing[@]})); then
        local t0; t0=$(now)
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
        took "apt-get install ${missing[*]}" "$t0"
    fi
}

# the Debian mirror apt already uses (deb822 or one-line sources), unless DEBIAN_MIRROR is set
mirror() {
    if [[ -n ${DEBIAN_MIRROR:-} ]]; then echo "$DEBIAN_MIRROR"; return; fi
    local uri
    uri=$(grep -h -m1 -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}') || true
    [[ -n $uri ]] || uri=$(grep -h -m1 -E '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}') || true
    echo "${uri:-http://deb.debian.org/debian}"
}

# the host pip's index and the folder holding the local wheels (the CPU torch wheel)
pip_setting() { python3 -m pip config get "global.$1" 2>/dev/null || true; }

has_image() { buildah images --quiet "$1" >/dev/null 2>&1; }

build_base() {
    if has_image "$BASE_IMAGE"; then echo "base: $BASE_IMAGE exists (kept)"; return; fi
    local rootfs=$DIR/rootfs t0 ctr
    rm -rf "$rootfs" "$DIR/base.tar"
    t0=$(now)
    debootstrap --variant=minbase --include=python3,python3-venv,libgomp1,ca-certificates \
        "$SUITE" "$rootfs" "$(mirror)" >"$DIR/debootstrap.log" 2>&1 \
        || { tail -20 "$DIR/debootstrap.log"; exit 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log
    took "debootstrap $SUITE (minbase + python3)" "$t0"
    t0=$(now)
    # a tar with numeric owners keeps each file's owner (a plain `buildah copy` makes all of them root's)
    tar --numeric-owner -C "$rootfs" -cf "$DIR/base.tar" .
    ctr=$(buildah from scratch)
    buildah add --quiet "$ctr" "$DIR/base.tar" / >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env LANG=C.UTF-8 --cmd /bin/bash "$ctr"
    buildah commit --quiet --rm "$ctr" "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs" "$DIR/base.tar"
    took "base image $BASE_IMAGE" "$t0"
}

bud() {  # bud LABEL DOCKERFILE TAG
    local t0 index links cert_args=() link_args=()
    index=${PIP_INDEX_URL:-$(pip_setting index-url)}
    links=${WHEELS_DIR:-$(pip_setting find-links)}
    if [[ -f $CA_BUNDLE ]]; then cert_args=(-v "$CA_BUNDLE:/run/host-ca.crt:ro" --build-arg PIP_CERT=/run/host-ca.crt); fi
    if [[ -n $links && -d $links ]]; then link_args=(-v "$links:/run/wheels:ro" --build-arg PIP_FIND_LINKS=/run/wheels); fi
    t0=$(now)
    buildah bud --quiet --layers --pull=never --isolation chroot --network host \
        --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "PIP_INDEX_URL=${index:-https://pypi.org/simple}" \
        "${cert_args[@]}" "${link_args[@]}" -f "$ROOT/$2" -t "$3" "$ROOT" >"$DIR/build-$1.log" 2>&1 \
        || { tail -30 "$DIR/build-$1.log"; exit 1; }
    took "$1 image $3" "$t0"
}

sizes() {
    buildah images --format '{{.Name}}:{{.Tag}}  {{.Size}}' | grep -E 'debian-base|automl-' || true
}

worker_breakdown() {  # where the worker image's bytes go (MB)
    podman run --rm --read-only --entrypoint /bin/sh "$WORKER_IMAGE" -c \
        'du -sm /usr /opt/venv /var 2>/dev/null; echo "-- site-packages:"; du -sm /opt/venv/lib/python3.11/site-packages/* | sort -rn | head -15'
}

cmd=${1:-build}
case $cmd in
    build)
        [[ $(id -u) == 0 ]] || { echo "images.sh: run as root (buildah with overlay storage)" >&2; exit 2; }
        need_tools
        write_config
        t_all=$(now)
        build_base
        bud worker docker/Dockerfile "$WORKER_IMAGE"
        bud airflow docker/Dockerfile.airflow "$AIRFLOW_IMAGE"
        bud postgres docker/Dockerfile.postgres "$POSTGRES_IMAGE"
        buildah rm --all >/dev/null 2>&1 || true
        took "make images" "$t_all"
        sizes
        ;;
    sizes)
        write_config
        sizes
        worker_breakdown
        ;;
    env)
        write_config
        echo "export CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF CONTAINERS_CONF=$CONTAINERS_CONF"
        ;;
    save)  # skipped when FILE already holds this image (FILE.id records the image ID it was saved from)
        write_config
        id=$(podman image inspect --format '{{.Id}}' "$2")
        if [[ -f $3 && -f $3.id && $(cat "$3.id") == "$id" ]]; then echo "save: $3 is up to date"; exit 0; fi
        t0=$(now)
        rm -f "$3" "$3.id"
        podman save --quiet --format oci-archive -o "$3" "$2"
        echo "$id" >"$3.id"
        took "podman save $2 ($(du -m "$3" | cut -f1) MB)" "$t0"
        ;;
    clean)
        if [[ -d $DIR ]]; then
            write_config
            buildah rm --all >/dev/null 2>&1 || true
            podman rm --all --force >/dev/null 2>&1 || true
            podman rmi --all --force >/dev/null 2>&1 || true
            grep -F "$DIR/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l || true
            rm -rf "$DIR"
        fi
        echo "removed $DIR"
        ;;
    *)
        echo "usage: $0 build|clean|sizes|env|save IMAGE FILE" >&2; exit 2 ;;
esac
