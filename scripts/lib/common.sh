# Shared by scripts/demo and scripts/test: installing what the build needs.
# Sourced, not run.

# Debian packages needed to build, test and demonstrate bcachefs-lite.
# (README "Dependencies" says why each is there.)
BCL_BUILD_PACKAGES=(
  g++ meson ninja-build pkg-config python3
  libfuse3-dev fuse3 librocksdb-dev libboost-dev libblkid-dev
  libisal-dev libcli11-dev libfmt-dev
)
BCL_TEST_PACKAGES=(
  libgtest-dev libgmock-dev libbenchmark-dev
  attr e2fsprogs util-linux btrfs-progs
)
# The fuzz targets: clang, and libFuzzer, which clang only recommends.
BCL_FUZZ_PACKAGES=(clang libclang-rt-14-dev)

bcl_die() { printf '%s: %s\n' "${0##*/}" "$*" >&2; exit 1; }

# Installs the named Debian packages that are missing, with apt-get, once.
bcl_ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || bcl_die "missing packages: ${missing[*]} (run as root to install them, or: apt-get install ${missing[*]})"
  printf 'Installing: %s\n' "${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || bcl_die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || bcl_die "apt-get install ${missing[*]} failed"
}

# bcl_setup DIR [MESON OPTION...]: configures DIR once.
bcl_setup() {
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >/dev/null || bcl_die "meson setup $dir failed"
  fi
}

# bcl_compile DIR [TARGET...]: builds everything in DIR, or just the
# targets (paths of build outputs relative to DIR).
bcl_compile() {
  local dir=$1; shift
  if [ $# -eq 0 ]; then
    meson compile -C "$dir" >/dev/null || { meson compile -C "$dir" 2>&1 | tail -40; bcl_die "build in $dir failed"; }
  else
    ninja -C "$dir" "$@" >/dev/null || { ninja -C "$dir" "$@" 2>&1 | tail -40; bcl_die "build in $dir failed"; }
  fi
}

# bcl_build DIR [MESON OPTION...]: configures (once) and builds all of DIR.
bcl_build() {
  bcl_setup "$@"
  bcl_compile "$1"
}
