# The base image from a stock image, for hosts that reach a registry (images/build.py --from-registry).
# Same packages as the offline debootstrap recipe; same clean-up.
FROM debian:bookworm-slim
COPY packages.txt /tmp/packages.txt
RUN apt-get update \
 && grep -v '^#' /tmp/packages.txt | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/packages.txt /usr/share/doc/*/[!c]* /usr/share/man /usr/share/info
CMD ["tini", "--", "sleep", "infinity"]
