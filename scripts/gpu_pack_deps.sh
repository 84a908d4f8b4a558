#!/usr/bin/env bash
# Run HERE (a Debian 12 dev machine) before a GPU session: downloads the Debian
# packages astromm builds against (MPI, parallel HDF5, libconfig, OpenBLAS) with
# their library dependencies into .gpudeps/, which the device tool carries to the
# GPU machine (its image has CUDA, CMake and PyTorch but none of these, and it
# cannot fetch). scripts/gpu_check.sh unpacks them into a private prefix there.
#   scripts/gpu_pack_deps.sh         then: run(command="scripts/gpu_check.sh", carry=[".gpudeps"])
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.gpudeps/' .git/info/exclude 2>/dev/null || echo '/.gpudeps/' >> .git/info/exclude
rm -rf .gpudeps && mkdir -p .gpudeps
# The build roots and the shared libraries they load, two levels deep, minus what
# any Linux base image has. (A full recursive closure is ~380 MB.)
roots=(libopenmpi-dev libopenmpi3 openmpi-bin openmpi-common libhdf5-openmpi-dev
       libhdf5-openmpi-103-1 libconfig-dev libconfig9 libopenblas-openmp-dev
       libopenblas0-openmp libopenblas-dev libcfitsio-dev libcfitsio10 libfftw3-dev libfftw3-double3 zlib1g-dev pkg-config
       libjpeg62-turbo-dev libjpeg62-turbo libpng-dev libpng16-16 liblapacke-dev liblapacke libtmglib3 libfaiss-dev)
skip='^(libc6|libgcc-s1|libstdc\+\+6|zlib1g|debconf|dpkg|perl-base|libcrypt1|libselinux1|libzstd1|liblzma5|libbz2-1.0|libssl3|libcurl.*|libgnutls.*|libkrb5.*|libgssapi.*|libk5crypto3|libcom-err2|libkeyutils1|libidn2-0|libunistring2|libnettle8|libhogweed6|libgmp10|libffi8|libtasn1-6|libp11-kit0|libldap-2.5-0|libsasl2.*|libbrotli1|libnghttp2-14|librtmp1|libssh2-1|libpsl5|libsystemd0|libcap2|libudev1|libgcrypt20|libgpg-error0|liblz4-1|python3.*|perl.*|gcc.*|cpp.*|g\+\+.*|libgfortran-.*-dev|.*-doc|libjs-.*|openssh-client|gfortran.*|libhdf5-.*-dev|hdf5-helpers|libaec-dev|libjpeg.*|libcurl4-.*-dev|libssl-dev|zlib1g-dev|libevent-dev|libhwloc-dev|libibverbs-dev|libnuma-dev|libltdl-dev|libx11.*|libxnvctrl0|libxext6|libxcb.*|libxau6|libxdmcp6|libbsd0|libmd0|libudev-dev|libpciaccess.*|mpi-default-.*|libopenblas64.*|libblas.*|liblapack.*|libopenblas0-pthread|libopenblas-pthread-dev|libopenblas0-serial|libopenblas-serial-dev|linux-libc-dev|libc6-dev|libc-dev-bin|libcrypt-dev|libnsl-dev|rpcsvc-proto|passwd|adduser|libmpfr6|libisl23|libmpc3|libfido2-1|libedit2)$'
level1=$(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
           --no-enhances --no-pre-depends "${roots[@]}" | awk '/Depends:/ {print $2}' | tr -d '<>' | sort -u)
level2=$(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
           --no-enhances --no-pre-depends $level1 | awk '/Depends:/ {print $2}' | tr -d '<>' | sort -u)
deps=$(printf '%s\n' $level1 $level2 | grep -E '^[a-z0-9]' | sort -u | grep -Ev "$skip" || true)
pkgs=$(printf '%s\n' "${roots[@]}" $deps | sort -u |
       while read -r p; do
         c=$(apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: //p')
         if [ -n "$c" ] && [ "$c" != "(none)" ]; then echo "$p"; fi
       done)
(cd .gpudeps && apt-get -o APT::Sandbox::User=root download $pkgs >/dev/null)
# Fallbacks: shared libraries that HDF5, Open MPI and OpenBLAS load and that a
# base image usually has (libcurl and its TLS/LDAP/Kerberos closure, ...).
# scripts/gpu_check.sh unpacks them aside and links in only the sonames the GPU
# image lacks (ldd decides), so the image's own copies are never shadowed.
fallback=(libcurl4 libcurl3-gnutls libnghttp2-14 librtmp1 libssh2-1 libpsl5 libldap-2.5-0 libsasl2-2
          libsasl2-modules-db libdb5.3 libbrotli1 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0
          libkeyutils1 libcom-err2 libgnutls30 libnettle8 libhogweed6 libidn2-0 libunistring2 libtasn1-6
          libp11-kit0 libffi8 libgmp10 libssl3 libzstd1 libudev1 libbz2-1.0 liblzma5 zlib1g)
mkdir -p .gpudeps/fallback
(cd .gpudeps/fallback && apt-get -o APT::Sandbox::User=root download "${fallback[@]}" >/dev/null)
echo "gpu_pack_deps: $(ls .gpudeps/*.deb | wc -l) packages + $(ls .gpudeps/fallback | wc -l) fallbacks, $(du -sh .gpudeps | cut -f1) in .gpudeps (carry limit 64 MiB)"
