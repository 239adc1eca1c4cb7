"""The origin server's configuration file (YAML): its sites, each with a document root and rules.

    sites:
      gaia.cs.umass.edu:                  # the first site also answers unknown Host values
        root: gaia.cs.umass.edu           # relative to this file
        aliases: [gaia, 10.0.5.80]
        cache:                            # first matching pattern wins
          - {path: "/web-cache/*", cache_control: "max-age=5"}
          - {path: "/objects/*", expires: 60}
        redirects: {/old.html: /index.html}
        writable: /upload/                # PUT, POST and DELETE below it
        cookie_page: /visits              # counts a visitor's visits through a cookie
"""

from __future__ import annotations

from pathlib import Path

import yaml

from services.daemon import ConfigError, read_config

from .site import CacheRule, SiteConfig

SITE_KEYS = {"root", "aliases", "cache", "redirects", "writable", "cookie_page"}
RULE_KEYS = {"path", "cache_control", "expires"}


def load_sites(path: str | Path) -> list[SiteConfig]:
    p = Path(path)
    try:
        doc = yaml.safe_load(read_config(p))
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("sites"), dict) or not doc["sites"]:
        raise ConfigError(f"{p}: expected a mapping `sites:` with at least one site")
    out = []
    for name, spec in doc["sites"].items():
        if not isinstance(spec, dict) or "root" not in spec:
            raise ConfigError(f"{p}: site {name!r} needs `root:` (its document root)")
        if unknown := set(spec) - SITE_KEYS:
            raise ConfigError(f"{p}: site {name!r}: unknown key {sorted(unknown)[0]!r}; allowed: "
                              f"{', '.join(sorted(SITE_KEYS))}")
        root = (p.parent / str(spec["root"])).resolve()
        if not root.is_dir():
            raise ConfigError(f"{p}: site {name!r}: document root {root} is not a folder")
        rules = []
        for rule in spec.get("cache") or []:
            if not isinstance(rule, dict) or "path" not in rule or set(rule) - RULE_KEYS:
                raise ConfigError(f"{p}: site {name!r}: a cache rule is {{path, cache_control, expires}}, got {rule!r}")
            expires = rule.get("expires")
            if expires is not None and not isinstance(expires, int):
                raise ConfigError(f"{p}: site {name!r}: expires is a number of seconds, got {expires!r}")
            rules.append(CacheRule(str(rule["path"]), rule.get("cache_control"), expires))
        out.append(SiteConfig(str(name).lower(), root, [str(a).lower() for a in spec.get("aliases") or []], rules,
                              {str(k): str(v) for k, v in (spec.get("redirects") or {}).items()},
                              spec.get("writable"), spec.get("cookie_page")))
    return out
