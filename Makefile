# wirelab: everything here needs root (namespaces, bridges, captures), except `make check-lab`.
SHELL := /bin/bash
LAB ?= campus
NODE ?=
BACKEND ?= netns
PYTHON ?= python3
VENV := .venv
WL := $(VENV)/bin/wirelab
PY := $(VENV)/bin/python

# Debian packages: the lab engine, the tools students use inside nodes, and the peers tests compare with.
APT_PACKAGES := iproute2 util-linux procps psmisc iptables nftables tcpdump iputils-ping traceroute dnsutils iperf3 \
	graphviz busybox isc-dhcp-client curl telnet inetutils-telnetd openssh-client openssh-server sshpass lftp wget vsftpd netcat-openbsd dnsperf dnsmasq-base kea-admin kea-dhcp4-server \
	postfix swaks fetchmail mpop dovecot-pop3d \
	apache2-utils wrk squid nginx-light \
	aria2 ctorrent mktorrent opentracker \
	mininet bridge-utils python3-venv

# The docker backend's extra needs: docker.io is installed by `make docker-setup` only where no engine
# (dockerd) exists, so a host with docker-ce keeps it. A client alone is not an engine.
DOCKER_PACKAGES := docker.io debootstrap
DOCKER ?= docker

.PHONY: setup system-packages venv docker-setup images up down down-all shell ps graph run scenarios test test-unit bench lint clean help

help:
	@echo "make setup                     system packages + .venv with the wirelab command (idempotent)"
	@echo "make run                       the main job: bring up campus and run its scenarios"
	@echo "make up LAB=campus             bring a lab up (LAB: a name under topology/labs/ or a path)"
	@echo "make shell LAB=campus NODE=client1"
	@echo "make ps | graph | down LAB=campus"
	@echo "make scenarios                 every scenario, as CI runs them"
	@echo "make test                      the whole test suite"
	@echo "make bench                     benchmarks, JSON under bench/results/"
	@echo "make docker-setup images       the docker backend: docker.io + debootstrap, dockerd, offline images"
	@echo "make up LAB=campus BACKEND=docker"

setup: system-packages venv

system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else echo "system packages: all present"; fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	PYTHONWARNINGS=ignore $(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

docker-setup:
	@# The engine is what matters: a machine may have a docker client (even a newer one) and no dockerd.
	@command -v dockerd >/dev/null || { echo "installing docker.io (no dockerd on this machine)"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io; }
	@command -v debootstrap >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap; }
	@$(DOCKER) info >/dev/null 2>&1 || { echo "starting dockerd"; (dockerd >/var/log/dockerd.log 2>&1 &); \
		for i in $$(seq 60); do $(DOCKER) info >/dev/null 2>&1 && break; sleep 1; done; \
		$(DOCKER) info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/dockerd.log"; exit 2; }; }
	@$(DOCKER) version --format 'docker: client {{.Client.Version}} (API {{.Client.APIVersion}}), engine {{.Server.Version}} (API {{.Server.APIVersion}})'

images: setup
	@docker info >/dev/null 2>&1 || { echo "images: no Docker daemon answers; run make docker-setup (or start dockerd) first"; exit 2; }
	$(PY) images/build.py

up: venv
	$(WL) up $(LAB) --backend $(BACKEND)

down: venv
	$(WL) down $(LAB)

down-all: venv
	$(WL) down --all

shell: venv
	@test -n "$(NODE)" || { echo "name a node: make shell LAB=$(LAB) NODE=client1"; exit 2; }
	$(WL) shell $(LAB) $(NODE)

ps: venv
	$(WL) ps $(LAB)

graph: venv
	$(WL) graph $(LAB) -o $(LAB).svg

run: setup
	$(WL) scenario run --lab $(LAB) --backend $(BACKEND)

scenarios: setup
	$(WL) scenario run --all --backend $(BACKEND) $(if $(OUT),--out $(OUT))

test: setup
	$(VENV)/bin/pytest -q

test-unit: venv
	$(VENV)/bin/pytest -q -m "not lab and not docker"

bench: setup
	@mkdir -p bench/results
	$(PY) -m bench.bench_lab --out bench/results/lab.json
	@for b in bench/bench_*.py; do m=$$(basename $$b .py); [ $$m = bench_lab ] && continue; \
		echo "== $$m"; $(PY) -m bench.$$m || exit 1; done

lint: venv
	$(VENV)/bin/ruff check topology services scenarios tests bench

clean:
	rm -rf results bench/results .pytest_cache .ruff_cache
