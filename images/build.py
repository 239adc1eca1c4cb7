"""Build wirelab's container images, offline: `make images` (or `.venv/bin/python images/build.py`).

Two images:
  wirelab/base:<recipe>  Debian bookworm (debootstrap minbase from the mirror apt uses, then `docker import`),
                         the packages of images/packages.txt. Rebuilt only when its recipe changes.
  wirelab/node:latest    FROM the base: the project's runtime Python dependencies (installed by the host's
                         pip, with its index and certificates, then copied in: the build needs no network),
                         then the project's code in its own top layer (a code change rebuilds only that).

`--from-registry` makes the base from a stock `debian:bookworm-slim` instead, where a registry is reachable.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from pathlib import Path

import docker
from docker.errors import DockerException, ImageNotFound
from rich.console import Console

from topology.backends.docker import BASE_REPO, IMAGE, ROOT, code_files, code_hash

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"
SUITE = "bookworm"
# Bump when the clean-up or import steps change, so the base is rebuilt.
RECIPE_VERSION = "1"
# Left out of the image: package caches and indexes, docs (except copyright), man pages, translations.
CLEAN = ["var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*", "usr/share/man/*",
         "usr/share/info/*", "usr/share/locale/*", "usr/share/lintian/*", "var/log/*.log", "var/log/apt/*",
         "var/cache/debconf/*-old", "var/lib/dpkg/*-old", "tmp/*"]
# Packages never wanted in the node image even when pyproject lists them (nodes never talk to dockerd).
HOST_ONLY = {"docker"}
NODE_PYTHON = "3.11"  # bookworm's python3

console = Console(stderr=True, highlight=False, soft_wrap=True)  # an error stays one line, however long


class BuildError(Exception):
    pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from-registry", action="store_true",
                    help="make the base from debian:bookworm-slim (needs a reachable registry)")
    ap.add_argument("--force", action="store_true", help="rebuild the base even when its recipe is unchanged")
    ap.add_argument("--mirror", help="Debian mirror for debootstrap (default: the one apt uses)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    try:
        client = docker.from_env()
        client.ping()
    except DockerException:
        console.print("images: no Docker daemon answers; start one (e.g. `dockerd &`) and run make images again")
        return 2
    BUILD.mkdir(parents=True, exist_ok=True)
    with open(BUILD / ".lock", "w") as lock:
        if not _try_lock(lock):
            console.print("images: another build is running here; waiting for it ...")
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            base = build_base(client, args)
            node = build_node(client, base)
        except BuildError as e:
            console.print(f"images: {e}")
            return 2
        except KeyboardInterrupt:
            console.print("images: interrupted; `make images` starts again where it can")
            return 130
    for ref in (base, node):
        size = client.images.get(ref).attrs["Size"] / 1e6
        console.print(f"  {ref}: {size:.0f} MB")
    console.print(f"[bold]images ready[/] [dim]in {time.perf_counter() - t0:.1f} s[/]")
    return 0


def _try_lock(lock) -> bool:
    """One build at a time per checkout: two debootstraps into one rootfs would spoil both."""
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


# base ---------------------------------------------------------------------------------------------

def packages() -> list[str]:
    lines = (HERE / "packages.txt").read_text().splitlines()
    return [x.strip() for x in lines if x.strip() and not x.startswith("#")]


def build_base(client: docker.DockerClient, args: argparse.Namespace) -> str:
    mirror = args.mirror or apt_mirror()
    source = "registry debian:bookworm-slim" if args.from_registry else f"debootstrap {SUITE} {mirror}"
    recipe = hashlib.sha256("\n".join([RECIPE_VERSION, source, *packages(), *CLEAN]).encode()).hexdigest()[:12]
    ref = f"{BASE_REPO}:{recipe}"
    if not args.force and _exists(client, ref):
        console.print(f"  [green]✓[/] base {ref} up to date [dim]({source})[/]")
        return ref
    start = time.perf_counter()
    if args.from_registry:
        context = _context({"Dockerfile": (HERE / "base-slim.Dockerfile").read_bytes(),
                            "packages.txt": (HERE / "packages.txt").read_bytes()})
        try:
            _docker_build(client, context, ref, {}, "base")
        except BuildError as e:
            raise BuildError(f"{e}\n--from-registry needs a reachable registry; without one, build offline "
                             f"(leave --from-registry out)") from None
    else:
        rootfs = debootstrap(mirror, recipe, force=args.force)
        _import(client, rootfs, ref)
    client.images.get(ref).tag(BASE_REPO, SUITE)
    for image in client.images.list(BASE_REPO):  # bases of older recipes
        for old in image.tags:
            if old not in (ref, f"{BASE_REPO}:{SUITE}"):
                try:
                    client.images.remove(old)
                except DockerException:
                    pass
    console.print(f"  [green]✓[/] base {ref} [dim]{time.perf_counter() - start:.0f} s[/]")
    return ref


def apt_mirror() -> str:
    """The Debian mirror apt uses here (first source with the bookworm suite and not the security archive)."""
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for f in files:
        if not f.is_file():
            continue
        text = f.read_text(errors="replace")
        if f.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^(\w[\w-]*):\s*(.+)$", stanza, re.M))
                suites, uris = fields.get("Suites", "").split(), fields.get("URIs", "").split()
                if "deb" in fields.get("Types", "").split() and SUITE in suites and uris \
                        and "security" not in uris[0]:
                    return uris[0]
        else:
            for line in text.splitlines():
                m = re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", line.strip())
                if m and m.group(2) == SUITE and "security" not in m.group(1):
                    return m.group(1)
    raise BuildError(f"no Debian {SUITE} mirror in /etc/apt/sources.list*; pass --mirror URL")


def _apt_proxy() -> dict[str, str]:
    out = subprocess.run(["apt-config", "shell", "P", "Acquire::http::Proxy"], capture_output=True, text=True)
    m = re.search(r"P='([^']+)'", out.stdout)
    return {"http_proxy": m.group(1)} if m else {}


def debootstrap(mirror: str, recipe: str, force: bool) -> Path:
    if shutil.which("debootstrap") is None:
        raise BuildError("debootstrap is missing; apt-get install debootstrap (make docker-setup does)")
    rootfs, marker = BUILD / "rootfs", BUILD / "rootfs.recipe"
    if not force and marker.exists() and marker.read_text() == recipe:
        console.print("  [green]✓[/] rootfs already made for this recipe: importing it")
        return rootfs
    marker.unlink(missing_ok=True)
    if rootfs.exists():
        _unmount_under(rootfs)
        shutil.rmtree(rootfs)
    argv = ["debootstrap", "--variant=minbase", f"--include={','.join(packages())}", SUITE, str(rootfs), mirror]
    env = os.environ | _apt_proxy()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    phases: dict[str, int] = {}
    tail: list[str] = []
    with console.status("debootstrap ...") as status:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail = (tail + [line.rstrip()])[-15:]
            m = re.match(r"I: (Retrieving|Validating|Extracting|Unpacking|Configuring) ", line)
            if not m:
                continue
            phase = m.group(1).lower()
            if phase not in phases and not console.is_terminal:
                console.print(f"  debootstrap: {phase} ...")
            phases[phase] = phases.get(phase, 0) + 1
            status.update(f"debootstrap: {phase} {phases[phase]} ...")
    if proc.wait() != 0:
        errors = [x[3:] for x in tail if x.startswith("E: ")] or [x for x in tail if x.strip()][-1:] or ["no output"]
        log = rootfs / "debootstrap" / "debootstrap.log"
        hint = "check images/packages.txt" if "find these debs" in errors[-1] else "check the mirror, or pass --mirror URL"
        raise BuildError(f"debootstrap from {mirror} failed: {errors[-1]} ({hint}"
                         f"{'; log: ' + str(log) if log.exists() else ''})")
    _clean(rootfs)
    marker.write_text(recipe)
    console.print(f"  [green]✓[/] debootstrap: {phases.get('configuring', 0)} packages configured")
    return rootfs


def _unmount_under(rootfs: Path) -> None:
    """Unmount what a killed debootstrap left mounted in the rootfs (proc, sys, bound /dev entries), so that
    deleting it cannot reach into the host's file systems."""
    for mnt in sorted(_mounts_under(rootfs), key=len, reverse=True):
        subprocess.run(["umount", "-l", mnt], check=False)
    if _mounts_under(rootfs):
        raise BuildError(f"{rootfs} still has file systems mounted in it; unmount them, then run make images again")


def _mounts_under(path: Path) -> list[str]:
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    # /proc/self/mounts writes a space as \040 (and tab, newline, backslash likewise, in octal)
    mounts = [re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), m) for m in mounts]
    return [m for m in mounts if m == str(path) or m.startswith(f"{path}/")]


def _clean(rootfs: Path) -> None:
    for pattern in CLEAN:
        for p in rootfs.glob(pattern):
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    for doc in (rootfs / "usr/share/doc").glob("*/*"):
        if doc.name != "copyright":
            shutil.rmtree(doc) if doc.is_dir() and not doc.is_symlink() else doc.unlink()


def _import(client: docker.DockerClient, rootfs: Path, ref: str) -> None:
    """`tar -C rootfs . | docker import`: /dev, /proc and /sys stay empty (the runtime fills them)."""
    with console.status("importing the root file system ..."):
        tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(rootfs), "--exclude=./dev/*",
                                "--exclude=./proc/*", "--exclude=./sys/*", "-cf", "-", "."],
                               stdout=subprocess.PIPE)
        repo, tag = ref.split(":")
        client.api.import_image_from_stream(tar.stdout, repository=repo, tag=tag,
                                            changes=['CMD ["tini", "--", "sleep", "infinity"]',
                                                     "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
        if tar.wait() != 0:
            raise BuildError(f"tar of {rootfs} failed")
    if not _exists(client, ref):
        raise BuildError(f"docker import of {rootfs} made no image {ref}")


# node ---------------------------------------------------------------------------------------------

def requirements() -> list[str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return [d for d in deps if re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower() not in HOST_ONLY]


def site_packages() -> Path:
    """The runtime dependencies installed by the host's pip into build/site (reused while unchanged)."""
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    if py != NODE_PYTHON:
        raise BuildError(f"build the images with Python {NODE_PYTHON} (the node image's), not {py}")
    site, marker = BUILD / "site", BUILD / "site.recipe"
    reqs = requirements()
    recipe = hashlib.sha256("\n".join([py, SITE_FORMAT, *reqs]).encode()).hexdigest()[:12]
    if marker.exists() and marker.read_text() == recipe and site.is_dir():
        return site
    marker.unlink(missing_ok=True)
    if site.exists():
        shutil.rmtree(site)
    with console.status(f"pip: {len(reqs)} runtime dependencies ..."):
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                               "--prefer-binary", "--no-compile", "--target", str(site), *reqs],
                              capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [x for x in proc.stderr.splitlines() if x.startswith("ERROR:")] or proc.stderr.strip().splitlines()[-1:]
        raise BuildError(f"pip could not install the runtime dependencies: {' '.join(lines) or 'no output'} "
                         f"(the host's pip index and proxy are used: `pip config list`)")
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts: nodes run `python3 -m ...`
    (site / "wirelab.pth").write_text("/opt/wirelab\n")  # the project's code (top layer) on sys.path
    _make_reproducible(site)
    marker.write_text(recipe)
    console.print(f"  [green]✓[/] pip: {', '.join(reqs)}")
    return site


SITE_FORMAT = "reproducible-2"  # bump when the way build/site is made changes


def _make_reproducible(site: Path) -> None:
    """The same dependencies give the same layer in every checkout: hash-checked .pyc files (valid
    whatever the mtimes) and one fixed mtime on every file, so Docker's layer cache and a fresh clone
    agree instead of rebuilding the dependency layer for new timestamps."""
    import compileall
    import py_compile

    compileall.compile_dir(str(site), quiet=1, workers=1, ddir=NODE_SITE,  # paths as the node sees them
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    for path in [site, *site.rglob("*")]:
        os.utime(path, (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)


FIXED_MTIME = 1_700_000_000
NODE_SITE = "/usr/local/lib/python3.11/dist-packages"  # node.Dockerfile's SITE


def build_node(client: docker.DockerClient, base: str) -> str:
    site = site_packages()
    files: dict[str, Path | bytes] = {"Dockerfile": HERE / "node.Dockerfile"}
    for path in sorted(site.rglob("*")):
        if path.is_file():
            files[f"site/{path.relative_to(site)}"] = path
    for path in code_files():
        files[f"code/{path.relative_to(ROOT)}"] = path
    start = time.perf_counter()
    labels = {"wirelab.code": code_hash(), "wirelab.base": base}
    _docker_build(client, _context(files), IMAGE, {"BASE": base}, "node", labels)
    # earlier node images, untagged by this build or an earlier one; those a container still uses stay
    client.images.prune(filters={"dangling": True, "label": "wirelab.code"})
    console.print(f"  [green]✓[/] node {IMAGE} [dim]{time.perf_counter() - start:.1f} s[/]")
    return IMAGE


def _context(files: dict[str, Path | bytes]) -> io.BytesIO:
    """The build context as a tar made in memory: only the files named (mtimes kept: .pyc stay valid)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, src in sorted(files.items()):
            if isinstance(src, Path):
                info = tar.gettarinfo(str(src), arcname=name)
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                with open(src, "rb") as f:
                    tar.addfile(info, f)
            else:
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(src), 0o644, 0
                tar.addfile(info, io.BytesIO(src))
    buf.seek(0)
    return buf


def _docker_build(client: docker.DockerClient, context: io.BytesIO, tag: str, buildargs: dict[str, str],
                  what: str, labels: dict[str, str] | None = None) -> None:
    """Build with the layer cache, showing each step (and whether it came from the cache)."""
    tail: list[str] = []
    # Host networking: the --from-registry base's apt reaches the mirror as the host does, without Docker's NAT.
    stream = client.api.build(fileobj=context, custom_context=True, tag=tag, buildargs=buildargs, rm=True,
                              labels=labels, network_mode="host", forcerm=True, decode=True)
    step = ""
    with console.status(f"{what} ...") as status:
        for chunk in stream:
            if "error" in chunk:
                raise BuildError(f"building {tag} failed: {chunk['error'].strip()}\n" + "\n".join(tail))
            text = chunk.get("stream", "").rstrip()
            if not text:
                continue
            tail = (tail + [text])[-12:]
            if text.startswith("Step "):
                step = text
                status.update(f"{what}: {step}")
            elif "Using cache" in text and step:
                status.update(f"{what}: {step} (cached)")
            if not console.is_terminal and text.startswith("Step "):
                console.print(f"  {what}: {text}")


def _exists(client: docker.DockerClient, ref: str) -> bool:
    return _image_id(client, ref) is not None


def _image_id(client: docker.DockerClient, ref: str) -> str | None:
    try:
        return client.images.get(ref).id
    except ImageNotFound:
        return None


if __name__ == "__main__":
    sys.exit(main())
