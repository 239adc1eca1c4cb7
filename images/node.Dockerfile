# The wirelab node image: the base, the project's runtime Python dependencies, then the project's code in its
# own top layer, so a code change rebuilds only that last, small layer. Built by images/build.py, which
# installs the dependencies into site/ with the host's pip (its index, proxy and certificates): the build
# itself needs no network.
ARG BASE
FROM ${BASE}
ARG SITE=/usr/local/lib/python3.11/dist-packages
COPY site/ ${SITE}/
ENV PYTHONUNBUFFERED=1
COPY code/ /opt/wirelab/
CMD ["tini", "--", "sleep", "infinity"]
