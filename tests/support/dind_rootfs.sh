#!/bin/sh
# Build the root filesystem of the dind test image as a tar: the host's own
# Docker engine (Debian docker.io: dockerd, containerd, containerd-shim-runc-v2,
# runc, docker-init) with every library ldd lists for them, Debian's static
# busybox for a shell, an /etc/passwd and /etc/group, and the mount points the
# daemon needs. No registry and no package download: the binaries come from
# this machine. The tests import the tar with `docker import`.
#
#   dind_rootfs.sh <work-dir>     writes <work-dir>/dind-rootfs.tar
set -eu

work=${1:?usage: dind_rootfs.sh <work-dir>}
root="$work/dind-rootfs"
rm -rf "$root"
mkdir -p "$root"

# Debian's paths, named in full: another docker may come first on PATH.
bins="/usr/sbin/dockerd /usr/bin/containerd /usr/bin/containerd-shim-runc-v2 /usr/sbin/runc /usr/bin/docker-init"
for b in $bins /bin/busybox; do
	[ -x "$b" ] || { echo "dind_rootfs.sh: $b is missing (docker.io, runc, tini, busybox-static)" >&2; exit 2; }
done

mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/bin" "$root/sbin" "$root/etc" "$root/proc" "$root/sys" \
	"$root/dev" "$root/run" "$root/var/lib/docker" "$root/var/run" "$root/tmp" "$root/root" \
	"$root/sys/fs/cgroup"
chmod 1777 "$root/tmp"

for b in $bins; do
	# docker-init is a symlink to tini-static: copy what it points at.
	cp -L "$b" "$root$b"
done
# dockerd finds runc and docker-init on PATH; both usual places resolve.
ln -s ../sbin/runc "$root/usr/bin/runc"

# Every library the dynamic binaries need, at the path the loader uses.
for b in $bins; do
	ldd "$b" 2>/dev/null | awk '/=> \//{print $3} /^[[:space:]]*\/[^ ]*ld-linux/{print $1}'
done | sort -u | while read -r lib; do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done

cp /bin/busybox "$root/bin/busybox"
/bin/busybox --list-full | while read -r applet; do
	[ "$applet" = bin/busybox ] && continue
	[ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done

printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\ndocker:x:999:\nnogroup:x:65534:\n' >"$root/etc/group"

tar -C "$root" -cf "$work/dind-rootfs.tar" .
rm -rf "$root"
