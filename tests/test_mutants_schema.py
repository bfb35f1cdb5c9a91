"""Schema messages and fixes, pinned exactly (mutation testing, docs/mutation.md): every
check_with callable and every cerberus rule kind turned into (path, message, fix); merged data
gets its defaults, a layer never does.

Host-free and fast: ``validate_layer`` and ``normalize_merged`` on data, no files.
"""

from __future__ import annotations

import datetime

import pytest

from mooring.declare.schema import is_secret_path, layer_schema, normalize_merged, validate_layer
from mooring.declare.errors import ConfigError

CASES = [
    {'id': 'mount-relative',
     'layer': {'stack': {'services': {'api': {'volumes': [{'source': './conf', 'target': '/c'}]}}}},
     'expect': [('stack.services.api.volumes.0.source',
                 "'./conf' is a relative path (compose would resolve it against its working directory)",
                 'use an absolute host path, `${STACK_DIR}/...` or a named volume such as `pgdata`')]},
    {'id': 'mount-dotdot',
     'layer': {'stack': {'services': {'api': {'volumes': [{'source': '/srv/../etc', 'target': '/c'}]}}}},
     'expect': [('stack.services.api.volumes.0.source',
                 "'/srv/../etc' contains `..`",
                 'write the path without `..` segments')]},
    {'id': 'mount-stackdir-dotdot',
     'layer': {'stack': {'services': {'api': {'volumes': [{'source': '${STACK_DIR}/../x', 'target': '/c'}]}}}},
     'expect': [('stack.services.api.volumes.0.source',
                 "'${STACK_DIR}/../x' contains `..`",
                 'write the path without `..` segments')]},
    {'id': 'mount-double-slash',
     'layer': {'stack': {'services': {'api': {'volumes': [{'source': '/srv//x', 'target': '/c'}]}}}},
     'expect': [('stack.services.api.volumes.0.source',
                 "'/srv//x' has empty segments, spaces, quotes or `$` in it",
                 'use a plain absolute path such as /srv/mooring/solacore/nginx/conf.d')]},
    {'id': 'mount-space',
     'layer': {'stack': {'services': {'api': {'volumes': [{'source': '/srv/my dir', 'target': '/c'}]}}}},
     'expect': [('stack.services.api.volumes.0.source',
                 "'/srv/my dir' has empty segments, spaces, quotes or `$` in it",
                 'use a plain absolute path such as /srv/mooring/solacore/nginx/conf.d')]},
    {'id': 'mount-dollar',
     'layer': {'stack': {'services': {'api': {'volumes': [{'source': '/srv/$HOME', 'target': '/c'}]}}}},
     'expect': [('stack.services.api.volumes.0.source',
                 "'/srv/$HOME' has empty segments, spaces, quotes or `$` in it",
                 'use a plain absolute path such as /srv/mooring/solacore/nginx/conf.d')]},
    {'id': 'mount-dot-volume',
     'layer': {'stack': {'services': {'api': {'volumes': [{'source': '.hidden', 'target': '/c'}]}}}},
     'expect': [('stack.services.api.volumes.0.source',
                 "'.hidden' is a relative path (compose would resolve it against its working directory)",
                 'use an absolute host path, `${STACK_DIR}/...` or a named volume such as `pgdata`')]},
    {'id': 'mount-ok',
     'layer': {'stack': {'services': {'api': {'volumes': [{'source': '${STACK_DIR}/conf', 'target': '/c'},
                                                          {'source': '${STACK_DIR}', 'target': '/d'},
                                                          {'source': 'pg-data.1', 'target': '/e'}]}}}},
     'expect': []},
    {'id': 'port-not-mapping',
     'layer': {'stack': {'services': {'api': {'ports': ['80']}}}},
     'expect': [('stack.services.api.ports.0',
                 "'80' is not a port mapping",
                 'write "8080:80", "127.0.0.1:9090:9090" or {published: 8080, target: 80}')]},
    {'id': 'port-zero',
     'layer': {'stack': {'services': {'api': {'ports': ['0:80']}}}},
     'expect': [('stack.services.api.ports.0',
                 "'0:80': published port 0 is outside 1-65535",
                 'write "8080:80", "127.0.0.1:9090:9090" or {published: 8080, target: 80}')]},
    {'id': 'port-too-big',
     'layer': {'stack': {'services': {'api': {'ports': ['80:65536']}}}},
     'expect': [('stack.services.api.ports.0',
                 "'80:65536': target port 65536 is outside 1-65535",
                 'write "8080:80", "127.0.0.1:9090:9090" or {published: 8080, target: 80}')]},
    {'id': 'port-bounds-ok',
     'layer': {'stack': {'services': {'api': {'ports': ['1:65535', '[::1]:8080:80/udp']}}}},
     'expect': []},
    {'id': 'port-bad-ip',
     'layer': {'stack': {'services': {'api': {'ports': ['999.1.1.1:80:80']}}}},
     'expect': [('stack.services.api.ports.0', "'999.1.1.1' is not an IP address", 'write e.g. 127.0.0.1 or 0.0.0.0')]},
    {'id': 'port-mapping-bad-ip',
     'layer': {'stack': {'services': {'api': {'ports': [{'published': 80, 'target': 80, 'host_ip': 'nope'}]}}}},
     'expect': [('stack.services.api.ports.0.host_ip',
                 "'nope' is not an IP address",
                 'write e.g. 127.0.0.1 or 0.0.0.0')]},
    {'id': 'port-mapping-empty-ip-ok',
     'layer': {'stack': {'services': {'api': {'ports': [{'published': 80, 'target': 80, 'host_ip': ''}]}}}},
     'expect': []},
    {'id': 'port-wrong-type',
     'layer': {'stack': {'services': {'api': {'ports': [80]}}}},
     'expect': [('stack.services.api.ports.0',
                 'must be of type string or dict, got integer 80',
                 'write "8080:80", "127.0.0.1:9090:9090" or {published: 8080, target: 80}')]},
    {'id': 'cidr-bad',
     'layer': {'stack': {'endpoints': {'dev': {'whitelist': ['10.0.0.0/33', '10.1.0.0/16']}}}},
     'expect': [('stack.endpoints.dev.whitelist.0',
                 "'10.0.0.0/33' is not an IP address or CIDR",
                 'write e.g. 10.0.0.0/8 or 127.0.0.1/32')]},
    {'id': 'origin-bad',
     'layer': {'stack': {'cors': {'allowed_origins': ['https://a.example.com/path',
                                                      '*',
                                                      'http://[::1]:8080',
                                                      'ftp://x']}}},
     'expect': [('stack.cors.allowed_origins.0',
                 "'https://a.example.com/path' is not an origin",
                 'write scheme://host[:port] without a path, e.g. https://app.example.com'),
                ('stack.cors.allowed_origins.3',
                 "'ftp://x' is not an origin",
                 'write scheme://host[:port] without a path, e.g. https://app.example.com')]},
    {'id': 'env-float',
     'layer': {'stack': {'env': {'V': 1.5}}},
     'expect': [('stack.env.V',
                 'a decimal number is read as a float and may change (1.10 becomes 1.1)',
                 'quote it, e.g. "1.10"')]},
    {'id': 'env-both',
     'layer': {'stack': {'env': {'V': {'secret': 'S', 'value': 'x'}}}},
     'expect': [('stack.env.V',
                 'a mapping value needs exactly one of `secret:` or `value:`',
                 'write `{secret: NAME}` for a secret, or `{value: TEXT, multiline: true}`')]},
    {'id': 'env-neither',
     'layer': {'stack': {'env': {'V': {'multiline': True}}}},
     'expect': [('stack.env.V',
                 'a mapping value needs exactly one of `secret:` or `value:`',
                 'write `{secret: NAME}` for a secret, or `{value: TEXT, multiline: true}`')]},
    {'id': 'env-multiline-secret',
     'layer': {'stack': {'env': {'V': {'secret': 'S', 'multiline': True}}}},
     'expect': [('stack.env.V',
                 '`multiline:` applies to `value:` only',
                 'remove `multiline:` (secrets may always be multi-line)')]},
    {'id': 'env-list',
     'layer': {'stack': {'env': {'NOTE': ['a']}}},
     'expect': [('stack.env.NOTE',
                 'must be of type string or integer or float or boolean or dict, got list (value hidden)',
                 'write a string, a number, true/false or {secret: NAME}')]},
    {'id': 'cron-bad',
     'layer': {'stack': {'backups': {'schedule': '61 * * * *'}}},
     'expect': [('stack.backups.schedule',
                 "'61 * * * *' is not a valid cron schedule: minute: 61 is outside 0-59",
                 'write five fields "minute hour day month weekday", e.g. "0 2 * * *" (02:00 daily)')]},
    {'id': 'probe-service',
     'layer': {'stack': {'health': [{'name': 'x', 'path': '/x', 'service': 'Api!'}]}},
     'expect': [('stack.health.0.service', "'Api!' has the wrong format",
                 'the name of a service that publishes a port, e.g. prometheus')]},
    {'id': 'type-null',
     'layer': {'stack': {'name': None}},
     'expect': [('stack.name', 'must not be empty (null)', 'give it a value, or remove the key to use the default')]},
    {'id': 'allowed',
     'layer': {'stack': {'services': {'api': {'role': 'database'}}}},
     'expect': [('stack.services.api.role',
                 "'database' is not allowed",
                 'use one of: app, postgres, mysql, redis, proxy, metrics, worker, other')]},
    {'id': 'allowed-int',
     'layer': {'bootstrap': {'compose_v1': 'keep'}},
     'expect': [('bootstrap.compose_v1', "'keep' is not allowed", 'use one of: remove, refuse')]},
    {'id': 'min',
     'layer': {'stack': {'releases_keep': 1}},
     'expect': [('stack.releases_keep',
                 '1 must be at least 2',
                 'keep at least 2 releases: the current one and one to roll back to')]},
    {'id': 'max',
     'layer': {'stack': {'releases_keep': 101}},
     'expect': [('stack.releases_keep',
                 '101 must be at most 100',
                 'keep at least 2 releases: the current one and one to roll back to')]},
    {'id': 'minlength',
     'layer': {'stack': {'services': {'api': {'command': []}}}},
     'expect': [('stack.services.api.command',
                 'length must be at least 1',
                 'a list of arguments, e.g. [python3, -m, app, serve]')]},
    {'id': 'empty-string',
     'layer': {'stack': {'services': {'api': {'env': ['']}}}},
     'expect': [('stack.services.api.env.0',
                 'must not be empty',
                 'list env key names declared in stack.env, e.g. [DATABASE_URL, REDIS_URL]')]},
    {'id': 'regex-long',
     'layer': {'stack': {'name': 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'}},
     'expect': [('stack.name',
                 "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... has the wrong format",
                 'the compose project name: lowercase letters, digits, - and _, e.g. solacore')]},
    {'id': 'unknown-far',
     'layer': {'stack': {'zzzzzz': 1}},
     'expect': [('stack.zzzzzz', 'unknown key', 'remove it or correct its spelling')]},
    {'id': 'unknown-top',
     'layer': {'stak': {}},
     'expect': [('stak', 'unknown key', 'did you mean `stack`? (remove it or correct its spelling)')]},
    {'id': 'unknown-small-block',
     'layer': {'stack': {'proxy': {'qqqq': 1}}},
     'expect': [('stack.proxy.qqqq',
                 'unknown key',
                 'remove it or correct its spelling; known keys: client_max_body_size, listen_port, server_name, '
                 'service, upstream, upstream_port')]},
    {'id': 'secret-path-hidden',
     'layer': {'bootstrap': {'deploy_user': 'Bad User'}, 'stack': {'env': {'API_TOKEN': ['x']}}},
     'expect': [('bootstrap.deploy_user', "'Bad User' has the wrong format", 'correct the value'),
                ('stack.env.API_TOKEN',
                 'must be of type string or integer or float or boolean or dict, got list (value hidden)',
                 'write a string, a number, true/false or {secret: NAME}')]},
    {'id': 'type-list-vs-string',
     'layer': {'stack': {'services': {'api': {'image': 5}}}},
     'expect': [('stack.services.api.image',
                 'must be of type string, got integer 5',
                 'an image reference such as registry.example.com/solacore/api:1.4.2 or postgres:15')]},
    {'id': 'restart-bool',
     'layer': {'stack': {'services': {'api': {'restart': False}}}},
     'expect': [('stack.services.api.restart',
                 'must be of type string, got boolean False',
                 'quote it: restart: "no" (unquoted no is read as false)')]},
    {'id': 'mode-int',
     'layer': {'stack': {'services': {'api': {'volumes': [{'source': '/x/y', 'target': '/c', 'mode': 644}]}}}},
     'expect': [('stack.services.api.volumes.0.mode',
                 'must be of type string, got integer 644',
                 'quote an octal mode, e.g. mode: "0644" (unquoted 0644 is read as a number)')]},
    {'id': 'depends-bad',
     'layer': {'stack': {'services': {'api': {'depends_on': {'db': 'started'}}}}},
     'expect': [('stack.services.api.depends_on.db',
                 "'started' is not allowed",
                 'use one of: service_started, service_healthy, service_completed_successfully')]},
    {'id': 'environment-bad',
     'layer': {'environment': 'Prod'},
     'expect': [('environment',
                 "'Prod' has the wrong format",
                 'name the environment, e.g. production, staging or sandbox')]},
    # a value a YAML block scalar `|` left with its line break, either kind
    {'id': 'line-break-newline', 'layer': {'stack': {'name': 'solacore\n'}},
     'expect': [('stack.name', "'solacore\\n' ends in a line break (a YAML block scalar `|` keeps one)",
                 'write the value on one line (or `|-` instead of `|`)')]},
    {'id': 'line-break-return', 'layer': {'stack': {'name': 'solacore\r'}},
     'expect': [('stack.name', "'solacore\\r' ends in a line break (a YAML block scalar `|` keeps one)",
                 'write the value on one line (or `|-` instead of `|`)')]},
    {'id': 'line-break-inside-is-only-wrong', 'layer': {'stack': {'name': 'sola\ncore'}},
     'expect': [('stack.name', "'sola\\ncore' has the wrong format",
                 'the compose project name: lowercase letters, digits, - and _, e.g. solacore')]},
    # env keys: the fix offers a valid name made from the wrong one
    {'id': 'env-key-mixed-case-dash', 'layer': {'stack': {'env': {'My-Key.v2': 'x'}}},
     'expect': [('stack.env.My-Key.v2', "the key 'My-Key.v2' has the wrong format",
                 'an environment variable name: letters, digits and _, not starting with a digit: rename it, e.g. `My_Key_v2`')]},
    {'id': 'env-key-leading-digit', 'layer': {'stack': {'env': {'1KEY': 'x'}}},
     'expect': [('stack.env.1KEY', "the key '1KEY' has the wrong format",
                 'an environment variable name: letters, digits and _, not starting with a digit: rename it, '
                 'e.g. `_1KEY`')]},
    {'id': 'env-key-empty', 'layer': {'stack': {'env': {'': 'x'}}},
     'expect': [("stack.env.''", "the key '' has the wrong format", 'an environment variable name: letters, digits and _, not starting with a digit')]},
    # Compose keys written in a layer: where each goes in mooring, at each level
    {'id': 'compose-top-services', 'layer': {'services': {}},
     'expect': [('services', 'unknown key', "services go under `stack.services` (mooring's layers are not compose "
                 "files), or stay in your compose file, named in `stack.compose.files` (docs/compose-files.md)")]},
    {'id': 'compose-top-version', 'layer': {'version': '3'},
     'expect': [('version', 'unknown key', 'remove it (Compose itself ignores `version`)')]},
    {'id': 'compose-stack-version', 'layer': {'stack': {'version': '3'}},
     'expect': [('stack.version', 'unknown key', 'remove it (Compose itself ignores `version`)')]},
    {'id': 'compose-service-environment', 'layer': {'stack': {'services': {'api': {'environment': {}}}}},
     'expect': [('stack.services.api.environment', 'unknown key', 'declare each value once in `stack.env` and list '
                 'the keys this service receives in `stack.services.api.env`')]},
    {'id': 'compose-key-deeper-is-a-typo', 'layer': {'stack': {'services': {'api': {'healthcheck': {'secrets': 1}}}}},
     'expect': [('stack.services.api.healthcheck.secrets', 'unknown key',
                 'remove it or correct its spelling; known keys: interval, retries, start_period, test, timeout')]},
    {'id': 'compose-stack-key-in-a-block-is-a-typo', 'layer': {'stack': {'backups': {'version': 1}}},
     'expect': [('stack.backups.version', 'unknown key',
                 'remove it or correct its spelling; known keys: copy_command, databases, directory, enabled, '
                 'keep_newest, metrics_dir, on_failure, retention_days, schedule, service, verify_schedule')]},
]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_layer_problems_exactly(case):
    if not case["expect"]:
        validate_layer(case["layer"], "group_data/all.yml")
        return
    with pytest.raises(ConfigError) as info:
        validate_layer(case["layer"], "group_data/all.yml")
    assert [(p.path, p.message, p.fix) for p in info.value.problems] == [tuple(e) for e in case["expect"]]
    assert {p.file for p in info.value.problems} == {"group_data/all.yml"}


def fields(rules):
    """Every key's rules, through mappings (``schema`` of a dict, ``valuesrules``), not into list items
    (a layer replaces a list whole, so an item is always complete)."""
    if not isinstance(rules, dict):
        return
    if rules.get("type") == "dict" and isinstance(rules.get("schema"), dict):
        for rule in rules["schema"].values():
            yield rule
            yield from fields(rule)
    if isinstance(rules.get("valuesrules"), dict):
        yield from fields(rules["valuesrules"])


def test_a_layer_schema_neither_requires_nor_fills():
    found = [rule for block in layer_schema().values() for rule in [block, *fields(block)]]
    assert len(found) > 60
    assert not [r for r in found if "required" in r or "default" in r]


MINIMAL = {"environment": "staging", "bootstrap": {}, "stack": {
    "name": "shop", "services": {"api": {"image": "shop/api:1"}},
    "health": [{"name": "live", "path": "/live"}], "smoke": [{"name": "home", "path": "/"}],
    "endpoints": {"dev": {}}, "cors": {}}}


def test_merged_data_gets_every_default():
    data = normalize_merged(MINIMAL, lambda path: "group_data/all.yml")
    assert data["bootstrap"] == {"docker_source": "debian", "compose_v1": "remove", "timezone": "UTC",
                                 "deploy_user": "deploy", "authorized_keys": [], "authorized_key_files": [],
                                 "base_dir": "/srv/mooring", "backup_dir": "/var/backups/mooring",
                                 **{k: v for k, v in data["bootstrap"].items() if k == "allow_no_keys"}}
    stack = data["stack"]
    assert (stack["releases_keep"], stack["secrets_generate_missing"], stack["env"], stack["migration"]) == (5, False, {}, None)
    assert stack["services"]["api"] | {} == {
        "image": "shop/api:1", "enabled": True, "role": "other", "image_source": "registry", "command": None, "env": [],
        "required_env": [], "ports": [], "volumes": [], "healthcheck": None, "depends_on": {}, "restart": "unless-stopped",
        "metrics": None}
    assert stack["proxy"] == {"service": None, "upstream": None, "upstream_port": 8000, "listen_port": 80, "server_name": "_",
                              "client_max_body_size": "10m"}
    probe = {"port": None, "service": None, "expected_status": 200, "timeout": 5, "interval": 2, "max_latency_ms": None,
             "contains": None}
    assert stack["health"] == [{"name": "live", "path": "/live", "retries": 30, **probe}]
    assert stack["smoke"] == [{"name": "home", "path": "/", "retries": 1, **probe}]
    assert stack["endpoints"] == {"dev": {"enabled": False, "whitelist": [], "enabled_env": "DEV_ENDPOINTS_ENABLED",
                                          "whitelist_env": "DEV_ENDPOINTS_WHITELIST"}, "ops": None}
    assert stack["cors"] == {"allowed_origins": [], "allow_credentials": True, "origins_env": "BACKEND_CORS_ALLOWED_ORIGINS",
                             "credentials_env": "BACKEND_CORS_ALLOW_CREDENTIALS"}
    assert stack["backups"] == {"enabled": True, "schedule": "0 2 * * *", "retention_days": 30, "keep_newest": 7,
                                "databases": [], "directory": None, "service": None,
                                "metrics_dir": "/var/lib/prometheus/node-exporter", "verify_schedule": None,
                                "copy_command": None, "on_failure": None}


def test_merged_problems_name_the_file_each_key_came_from():
    files = {"stack.name": "group_data/staging.yml"}
    with pytest.raises(ConfigError) as info:
        normalize_merged({"environment": "staging", "stack": {"name": "Bad", "services": {"api": {}}}},
                         lambda path: files.get(path, "group_data/all.yml"))
    assert [(p.file, p.path, p.message) for p in info.value.problems] == [
        ("group_data/all.yml", "stack.services.api.image", "required key is missing"),
        ("group_data/staging.yml", "stack.name", "'Bad' has the wrong format")]


def test_building_the_layer_schema_leaves_the_merged_one_whole():
    from mooring.declare.schema import merged_schema

    layer_schema()
    stack = merged_schema()["stack"]["schema"]
    assert stack["name"]["required"] is True and stack["releases_keep"]["default"] == 5
    assert stack["services"]["valuesrules"]["schema"]["image"]["required"] is True
    assert stack["backups"]["schema"]["retention_days"]["default"] == 30


def only_problem(layer) -> tuple[str, str]:
    with pytest.raises(ConfigError) as info:
        validate_layer(layer, "group_data/all.yml")
    [problem] = info.value.problems
    return problem.path, problem.message


@pytest.mark.parametrize("layer,problem", [
    ({"stack": "x"}, ("stack", "must be of type dict, got string 'x'")),
    ({"stack": {"name": {"a": 1}}}, ("stack.name", "must be of type string, got mapping {'a': 1}")),
    ({"stack": {"name": datetime.date(2024, 1, 2)}}, ("stack.name", "must be of type string, got date datetime.date(2024, 1, 2)")),
    ({"stack": {"releases_keep": 2.5}}, ("stack.releases_keep", "must be of type integer, got float 2.5")),
    ({"stack": {"name": "X" * 58}}, ("stack.name", f"'{'X' * 58}' has the wrong format")),          # 60 characters: shown whole
    ({"stack": {"name": "X" * 59}}, ("stack.name", f"'{'X' * 56}... has the wrong format")),        # 61: cut to 57 + ...
    # a value under a secret-looking key or parent key is never shown
    ({"stack": {"services": {"tokens": {"image": "Bad Image"}}}}, ("stack.services.tokens.image", "(value hidden) has the wrong format")),
    ({"stack": {"services": {"secret-store": {"healthcheck": {"test": ["CMD", "x"], "interval": "soon"}}}}},
     ("stack.services.secret-store.healthcheck.interval", "'soon' has the wrong format")),
    ({"bootstrap": {"deploy_user": "Bad User"}}, ("bootstrap.deploy_user", "'Bad User' has the wrong format")),
])
def test_type_names_and_shown_values(layer, problem):
    assert only_problem(layer) == problem


@pytest.mark.parametrize("path,secret", [
    ("stack.env.JWT_SECRET", True), ("stack.env.POSTGRES_DB", False), ("stack.services.tokens.image", False),
    ("API_KEY", True), ("api_key.name", False), ("a.b.c.PRIVATE_PEM", True),
])
def test_is_secret_path_looks_at_the_last_key_only(path, secret):
    assert is_secret_path(path) is secret


def test_an_unknown_key_among_many_lists_no_known_keys():
    """A service has 13 keys: too many to list, and nothing close to `zzzz`."""
    with pytest.raises(ConfigError) as info:
        validate_layer({"stack": {"services": {"api": {"zzzz": 1}}}}, "group_data/all.yml")
    [problem] = info.value.problems
    assert (problem.path, problem.message, problem.fix) == ("stack.services.api.zzzz", "unknown key",
                                                            "remove it or correct its spelling")


@pytest.mark.parametrize("count, listed", [(12, True), (13, False)])
def test_known_keys_are_listed_up_to_twelve(count, listed):
    """The boundary on a block of its own (no shipped block has exactly 12 keys)."""
    from cerberus import Validator

    from mooring.declare.schema import _leaf_errors, _unknown_key_fix

    schema = {f"key{n:02d}": {"type": "integer"} for n in range(count)}
    validator = Validator(schema)
    assert not validator.validate({"zzzz": 1})
    [error] = _leaf_errors(validator._errors)
    known = ", ".join(sorted(schema))
    assert _unknown_key_fix(error, schema) == "remove it or correct its spelling" + (f"; known keys: {known}" if listed
                                                                                     else "")


def test_origins_with_upper_case_hosts_and_networks_with_host_bits_are_accepted():
    """Browsers send the host as written; `10.1.2.3/8` means the network 10.0.0.0/8."""
    validate_layer({"stack": {"cors": {"allowed_origins": ["https://App.Example.COM", "http://Localhost:3300"]},
                              "endpoints": {"ops": {"whitelist": ["10.1.2.3/8", "2001:db8::1/32"]}}}},
                   "group_data/all.yml")


def test_a_port_mapping_in_a_layer_is_complete():
    """Lists replace lists across layers, so a mapping item in a layer needs its required keys."""
    with pytest.raises(ConfigError) as info:
        validate_layer({"stack": {"services": {"api": {"ports": [{"published": 80}]}}}}, "group_data/all.yml")
    assert [(p.path, p.message) for p in info.value.problems] == [("stack.services.api.ports.0.target", "required key is missing")]


def test_fixes_without_a_meta_fix():
    with pytest.raises(ConfigError) as info:
        normalize_merged({"environment": "staging", "stack": {"name": "shop", "services": {"api": {"image": "a:1"}},
                                                               "backups": {"enabled": "yes"},
                                                               "migration": {"command": ["migrate"]}}},
                         lambda path: "group_data/all.yml")
    assert [(p.path, p.message, p.fix) for p in info.value.problems] == [
        ("stack.backups.enabled", "must be of type boolean, got string 'yes'", "write a boolean"),
        ("stack.migration.service", "required key is missing", "add this key")]
