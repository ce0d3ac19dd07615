"""inna's config as the INI text `inna --check` prints and config_to_ini
(src/config/config.c) writes into model.h5 and checkpoints (root attribute
"config"), read by the Python helpers.  Standard library only.

    config = read_ini(text)             # {"net.input": "3x32x32", ...}
    layers = net_layers(config)         # [("conv", {"filters": 192, ...}), ...]
"""


def read_ini(text):
    """INI text -> {"section.key": "value"} (strings); a repeated key (the
    [net] layer lines) has its values joined with "\\n", in order.  Blank
    lines and ';' or '#' comment lines are skipped."""
    config, section = {}, ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif "=" in line:
            key, value = (s.strip() for s in line.split("=", 1))
            key = f"{section}.{key}"
            config[key] = config[key] + "\n" + value if key in config else value
    return config


def net_layers(config):
    """The [net] layer lines of read_ini's dict as [(type, {key: value}), ...]:
    "conv filters=192 size=5" -> ("conv", {"filters": 192, "size": 5});
    values are ints, but for rate (a float)."""
    layers = []
    for line in config.get("net.layer", "").splitlines():
        kind, *args = line.split()
        layers.append((kind, {k: float(v) if k == "rate" else int(v)
                              for k, v in (a.split("=", 1) for a in args)}))
    return layers
