#!/usr/bin/env bash
# Packs this machine's Open MPI 4.1 (Debian/Ubuntu's openmpi-bin and libopenmpi3, with its external PMIx, hwloc and
# libevent) into one relocatable folder, for a machine that has no Open MPI, such as the GPU machine, where data-parallel
# CPU ranks are then started with the bundled mpirun:
#   scripts/mpi-bundle.sh OUT_DIR                       writes OUT_DIR/openmpi.tar.xz (gpu-bundle.sh calls it)
# The archive holds one folder, openmpi/, laid out as an install prefix:
#   mpirun                  the launcher to call: sources env, then runs bin/orterun
#   env                     (bash) points Open MPI, PMIx and hwloc at this folder, sets LD_LIBRARY_PATH and
#                           TORNADOVIT_LIBMPI (the library a TornadoViT rank loads); ranks inherit all of it
#   bin/                    orterun (= mpirun), orted (the daemon mpirun starts on other hosts), ompi_info
#   lib/                    libmpi.so.40 and every library it, the binaries and the plug-ins need, except glibc's
#   lib/openmpi3/           Open MPI's plug-ins (MCA components), lib/pmix/ PMIx's
#   share/openmpi, share/pmix, etc/   help texts, MCA parameter defaults
# Left out: the plug-ins for InfiniBand, UCX, libfabric, PSM/PSM2 and OpenSHMEM, with their libraries (one host
# talks over shared memory, several over TCP); MPI I/O and the rest stay.
# Assumes the target machine is x86-64 Linux with a glibc at least as new as the newest symbol version the packed files
# ask for (Debian 12's: 2.36, for libevent's arc4random; Ubuntu 24.04, as in the CUDA images, has 2.39, Ubuntu 22.04
# only 2.35): glibc itself (libc, libm, libpthread, libdl, librt, the loader) is not packed. That version is written
# into openmpi/GLIBC_MIN, which the bundle's mpirun checks before starting anything.
set -euo pipefail
out="${1:?usage: mpi-bundle.sh OUT_DIR}"
command -v ompi_info >/dev/null || { echo "error: ompi_info not found: install Open MPI (apt-get install openmpi-bin)" >&2; exit 2; }
# (sed -n …p, not head: a reader that stops early would fail the pipe under pipefail)
path() { ompi_info --parsable --path "$1" | sed -n "s/^path:$1://p" | sed -n 1p; }
pkglibdir=$(path pkglibdir) pkgdatadir=$(path pkgdatadir) sysconfdir=$(path sysconfdir) bindir=$(path bindir)
version=$(ompi_info --parsable | sed -n 's/^ompi:version:full:\(.*\)/\1/p' | sed -n 1p)
case "$version" in 4.1.*) ;; *) echo "error: Open MPI $version found; this script packs Open MPI 4.1" >&2; exit 2 ;; esac
# PMIx: where Open MPI's PMIx client library comes from (Debian: a prefix of its own, .../pmix2)
libpmix=$(ldd "$pkglibdir/mca_pmix_ext3x.so" | awk '$1 == "libpmix.so.2" {print $3}')
[ -n "$libpmix" ] || { echo "error: $pkglibdir/mca_pmix_ext3x.so does not link libpmix.so.2" >&2; exit 2; }
pmix_prefix=$(dirname "$(dirname "$(readlink -f "$libpmix")")")

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
prefix="$stage/openmpi"
mkdir -p "$prefix/bin" "$prefix/lib/openmpi3" "$prefix/lib/pmix" "$prefix/share/openmpi" "$prefix/share/pmix" "$prefix/etc"

# Plug-ins that need a network stack or OpenSHMEM are left out, by the libraries they link.
unwanted='libuc[pstm]\.|libmca_common_ucx|libpsm|libinfinipath|libibverbs|librdmacm|libfabric|libefa|libnl-|liboshmem|libmca_common_(ofi|verbs)'
for component in "$pkglibdir"/*.so; do
  needs=$(ldd "$component")  # whole, not piped into grep -q, whose early exit would fail the pipe
  if grep -qE "$unwanted" <<<"$needs"; then continue; fi
  cp "$component" "$prefix/lib/openmpi3/"
done
cp "$pmix_prefix"/lib/pmix/*.so "$prefix/lib/pmix/"
for binary in orterun orted ompi_info; do cp "$bindir/$binary" "$prefix/bin/"; done
ln -s orterun "$prefix/bin/mpirun"
ln -s orterun "$prefix/bin/mpiexec"

# The libraries: the closure of what the binaries, libmpi and the plug-ins link, by soname, glibc's excepted.
glibc='^(linux-vdso\.so|ld-linux|libc\.so|libm\.so|libpthread\.so|libdl\.so|librt\.so|libutil\.so|libresolv\.so|libmvec\.so)'
libmpi=$(ldd "$prefix/bin/ompi_info" | awk '$1 == "libmpi.so.40" {print $3}')
declare -A packed=()
pending=("$prefix"/bin/orterun "$prefix"/bin/orted "$prefix"/bin/ompi_info "$libmpi" "$prefix"/lib/openmpi3/*.so "$prefix"/lib/pmix/*.so)
while [ ${#pending[@]} -gt 0 ]; do
  file="${pending[0]}"; pending=("${pending[@]:1}")
  while read -r soname resolved; do
    [[ "$soname" =~ $glibc ]] && continue
    [ -n "${packed[$soname]:-}" ] && continue
    [ -f "$resolved" ] || { echo "error: $file needs $soname, which is not installed" >&2; exit 2; }
    packed[$soname]=1
    cp -L "$resolved" "$prefix/lib/$soname"
    pending+=("$resolved")
  done < <(ldd "$file" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}')
done
[ -f "$prefix/lib/libmpi.so.40" ] || cp -L "$libmpi" "$prefix/lib/libmpi.so.40"

cp "$pkgdatadir"/help-*.txt "$prefix/share/openmpi/"
cp "$pmix_prefix"/share/pmix/help-*.txt "$prefix/share/pmix/"
[ -f "$sysconfdir/openmpi-default-hostfile" ] && cp "$sysconfdir/openmpi-default-hostfile" "$prefix/etc/"
# Open MPI's defaults, as Debian's (no one-sided pt2pt), and only the transports packed.
cat >"$prefix/etc/openmpi-mca-params.conf" <<'CONF'
# Defaults of the relocated Open MPI (mpi-bundle.sh): shared memory on one host, TCP between hosts.
btl_base_warn_component_unused = 0
btl = self,vader,tcp
pml = ob1
osc = ^pt2pt
CONF
cat >"$prefix/etc/pmix-mca-params.conf" <<'CONF'
# PMIx's plug-ins are found through PMIX_MCA_mca_base_component_path (env).
CONF

cat >"$prefix/env" <<'ENV'
# Sourced (bash): points this relocated Open MPI 4.1 at the folder it lies in. Open MPI reads its install directories
# from OPAL_*, PMIx from PMIX_*, plug-in folders from the MCA component paths; none of them then looks at the
# compiled-in system paths (Debian's /usr/lib/x86_64-linux-gnu/openmpi, .../pmix2, /usr/share/openmpi, /etc/openmpi).
ompi_bundle="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export OPAL_PREFIX="$ompi_bundle" OPAL_EXEC_PREFIX="$ompi_bundle" OPAL_BINDIR="$ompi_bundle/bin" \
  OPAL_SBINDIR="$ompi_bundle/bin" OPAL_LIBEXECDIR="$ompi_bundle/bin" OPAL_LIBDIR="$ompi_bundle/lib" \
  OPAL_DATAROOTDIR="$ompi_bundle/share" OPAL_DATADIR="$ompi_bundle/share" OPAL_SYSCONFDIR="$ompi_bundle/etc" \
  OPAL_PKGDATADIR="$ompi_bundle/share/openmpi" OPAL_PKGLIBDIR="$ompi_bundle/lib/openmpi3" \
  OPAL_INCLUDEDIR="$ompi_bundle/include" OPAL_PKGINCLUDEDIR="$ompi_bundle/include/openmpi" \
  OPAL_MANDIR="$ompi_bundle/share/man" OPAL_INFODIR="$ompi_bundle/share/info" \
  OPAL_SHAREDSTATEDIR="$ompi_bundle/com" OPAL_LOCALSTATEDIR="$ompi_bundle/var"
export OMPI_MCA_mca_base_component_path="$ompi_bundle/lib/openmpi3"
export PMIX_PREFIX="$ompi_bundle" PMIX_EXEC_PREFIX="$ompi_bundle" PMIX_BINDIR="$ompi_bundle/bin" \
  PMIX_LIBDIR="$ompi_bundle/lib" PMIX_DATAROOTDIR="$ompi_bundle/share" PMIX_DATADIR="$ompi_bundle/share" \
  PMIX_SYSCONFDIR="$ompi_bundle/etc" PMIX_PKGDATADIR="$ompi_bundle/share/pmix" PMIX_PKGLIBDIR="$ompi_bundle/lib/pmix"
export PMIX_MCA_mca_base_component_path="$ompi_bundle/lib/pmix"
# hwloc's own plug-ins (PCI, OpenCL, GL) are not packed and not needed: no system ones either.
export HWLOC_PLUGINS_PATH="$ompi_bundle/lib/hwloc"
# The bundled libraries come before any other copy; a TornadoViT rank loads this libmpi.
export LD_LIBRARY_PATH="$ompi_bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export TORNADOVIT_LIBMPI="$ompi_bundle/lib/libmpi.so.40"
export PATH="$ompi_bundle/bin:$PATH"
ENV
cat >"$prefix/mpirun" <<'RUN'
#!/usr/bin/env bash
# The relocated Open MPI's mpirun: its environment (env), then orterun. Ranks inherit the environment.
source "$(dirname "${BASH_SOURCE[0]}")/env"
# A glibc older than the packed files need fails in the loader with a cryptic line: say it plainly instead.
if [ -f "$ompi_bundle/GLIBC_MIN" ] && have=$(getconf GNU_LIBC_VERSION 2>/dev/null); then
  have="${have#glibc }" need=$(cat "$ompi_bundle/GLIBC_MIN")
  if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | sed -n 1p)" != "$need" ]; then
    echo "error: this Open MPI (packed by mpi-bundle.sh) needs glibc $need or newer; this machine has $have" >&2
    exit 2
  fi
fi
exec "$ompi_bundle/bin/orterun" "$@"
RUN
chmod +x "$prefix/mpirun"
echo "Open MPI $version from $(dirname "$libmpi") and PMIx from $pmix_prefix, packed; build: $(uname -m), $(ldd --version | sed -n 1p)" \
  >"$prefix/SOURCE"

if command -v objdump >/dev/null; then
  find "$prefix" -type f \( -name '*.so*' -o -path '*/bin/*' \) -exec objdump -T {} + 2>/dev/null \
    | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -t. -k1,1n -k2,2n -k3,3n | tail -n 1 >"$prefix/GLIBC_MIN"
fi

mkdir -p "$out"
tar -C "$stage" -cf - openmpi | xz -9 -T0 >"$out/openmpi.tar.xz"
echo "$out/openmpi.tar.xz: $(du -b "$out/openmpi.tar.xz" | cut -f1) bytes ($(du -sb "$prefix" | cut -f1) unpacked)"
