#!/usr/bin/env bash
# Cross-compile the routing kernel for aarch64 (portable, and tuned for Neoverse N1 / Ampere
# A1) and run its test vectors under qemu-user with Debian's arm64 Python and numpy,
# comparing them with the results of the x86-64 build and of the pure-Python twin.
#
#   bash scripts/native_aarch64.sh        (make native-aarch64)
#
# Everything comes from Debian 12's packages (see the shared notes on aarch64). Missing
# tools are installed with apt-get when run as root; the arm64 Python sysroot is unpacked,
# not installed, under .native-aarch64/ (gitignored). Safe to re-run: finished steps are
# skipped. Exit status: 0 when every build agrees with every vector, 1 otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$ROOT/.native-aarch64"
SYSROOT="$WORK/sysroot"
VECTORS="$ROOT/tests/native/vectors.json"
PY_HOST="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY_HOST" ] || PY_HOST="$(command -v python3)"
CROSS_CC="aarch64-linux-gnu-gcc"
TUNE="${FREEWAY_CPU:-neoverse-n1}"
FLAGS=(-O3 -ffp-contract=off -shared -fPIC -fno-strict-aliasing -Wall -Wno-unused-function
       -Wno-unreachable-code -I/usr/include/python3.11 -I/usr/include/aarch64-linux-gnu/python3.11)
SYSROOT_DEBS=(python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 libexpat1
              zlib1g libffi8 libssl3 libbz2-1.0 liblzma5 libsqlite3-0 libuuid1 libtinfo6
              libncursesw6 libreadline8 libgcc-s1 libstdc++6 libcrypt1 libdb5.3 libgdbm6
              libnsl2 libtirpc3 python3-numpy libblas3 liblapack3 libgfortran5)
APT=(apt-get -y -q -o DPkg::Lock::Timeout=600)

say() { printf '\033[1m== %s\033[0m\n' "$*"; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

have_toolchain() {
    command -v "$CROSS_CC" >/dev/null && command -v qemu-aarch64-static >/dev/null \
        && [ -f /usr/include/aarch64-linux-gnu/python3.11/pyconfig.h ]
}

install_toolchain() {
    if have_toolchain; then
        say "toolchain present ($($CROSS_CC -dumpfullversion), $(qemu-aarch64-static --version | head -1))"
        return
    fi
    [ "$(id -u)" = 0 ] || die "missing gcc-aarch64-linux-gnu / qemu-user-static / libpython3.11-dev:arm64; run as root or install them"
    say "installing the cross toolchain and arm64 Python headers (apt)"
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        dpkg --add-architecture arm64
    fi
    "${APT[@]}" update
    DEBIAN_FRONTEND=noninteractive "${APT[@]}" install --no-install-recommends \
        gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static libpython3.11-dev:arm64
    have_toolchain || die "toolchain still incomplete after apt-get install"
}

build_sysroot() {
    if [ -x "$SYSROOT/usr/bin/python3.11" ] && [ -d "$SYSROOT/usr/lib/python3/dist-packages/numpy" ]; then
        say "arm64 sysroot present ($SYSROOT)"
        return
    fi
    say "unpacking an arm64 Python + numpy sysroot (apt-get download, dpkg -x)"
    if ! apt-cache show python3.11-minimal:arm64 >/dev/null 2>&1; then
        [ "$(id -u)" = 0 ] || die "arm64 package lists missing; run as root"
        dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
        "${APT[@]}" update
    fi
    rm -rf "$WORK/debs" "$SYSROOT"
    mkdir -p "$WORK/debs" "$SYSROOT"
    (cd "$WORK/debs" && for p in "${SYSROOT_DEBS[@]}"; do apt-get download -q -o APT::Sandbox::User=root "$p:arm64"; done)
    for deb in "$WORK"/debs/*.deb; do dpkg -x "$deb" "$SYSROOT"; done
    [ -x "$SYSROOT/usr/bin/python3.11" ] || die "no python3.11 in the sysroot"
}

cythonize() {
    say "cython: native/_kernel_c.pyx -> C"
    mkdir -p "$WORK/src"
    "$PY_HOST" -m cython -3 "$ROOT/native/_kernel_c.pyx" -o "$WORK/src/_kernel_c.c"
}

stage() {  # stage <variant> <extra flags...>: a native/ package holding an aarch64 build
    local variant="$1"; shift
    local dir="$WORK/$variant"
    rm -rf "$dir" && mkdir -p "$dir/native"
    cp "$ROOT"/native/{__init__,_common,_kernel_py,kernel}.py "$dir/native/"
    cp "$ROOT/tests/native/vectors.py" "$dir/vectors.py"
    "$CROSS_CC" "${FLAGS[@]}" "$@" "$WORK/src/_kernel_c.c" \
        -o "$dir/native/_kernel_c.cpython-311-aarch64-linux-gnu.so"
    aarch64-linux-gnu-readelf -h "$dir/native/_kernel_c.cpython-311-aarch64-linux-gnu.so" \
        | grep -q 'AArch64' || die "$variant build is not an AArch64 object"
    echo "   $variant: ${*:-portable flags} -> $(du -h "$dir/native/"*.so | cut -f1)"
}

run_arm() {  # run_arm <variant> <impl>: check the vectors under qemu-aarch64
    local dir="$WORK/$1"
    (cd "$dir" && QEMU_LD_PREFIX="$SYSROOT" \
        QEMU_SET_ENV="LD_LIBRARY_PATH=/usr/lib/aarch64-linux-gnu/blas:/usr/lib/aarch64-linux-gnu/lapack,PYTHONPATH=$dir,PYTHONDONTWRITEBYTECODE=1" \
        qemu-aarch64-static "$SYSROOT/usr/bin/python3.11" -c \
        "import platform, numpy, sys, vectors; from native import kernel
print(f'   {platform.machine()} Python {platform.python_version()} numpy {numpy.__version__}; selector picks {kernel.IMPLEMENTATION!r}; checking _kernel_$2')
sys.exit(vectors.main(['check', '$VECTORS', '--impl', '$2']))")
}

main() {
    [ -f "$VECTORS" ] || die "no test vectors at $VECTORS"
    install_toolchain
    build_sysroot
    cythonize
    say "cross-compiling"
    stage portable
    stage tuned "-mcpu=$TUNE"
    local -a results=()
    local status=0
    say "x86-64 reference: compiled kernel on this machine"
    if (cd "$ROOT" && "$PY_HOST" -m tests.native.vectors check "$VECTORS" --impl c); then
        results+=("PASS x86-64 compiled kernel"); else results+=("FAIL x86-64 compiled kernel"); status=1; fi
    for variant in portable tuned; do
        say "aarch64 $variant build under qemu-user"
        if run_arm "$variant" c; then
            results+=("PASS aarch64 $variant build"); else results+=("FAIL aarch64 $variant build"); status=1; fi
    done
    say "aarch64 pure-Python twin under qemu-user"
    if run_arm portable py; then
        results+=("PASS aarch64 pure-Python twin"); else results+=("FAIL aarch64 pure-Python twin"); status=1; fi
    say "summary (vectors from the x86-64 pure-Python twin: $VECTORS)"
    printf '  %s\n' "${results[@]}"
    if [ "$status" = 0 ]; then echo "PASS: aarch64 kernel agrees with x86-64"; else echo "FAIL: see mismatches above"; fi
    return "$status"
}

main "$@"
