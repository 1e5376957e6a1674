"""Test helper for the Keras importer (run with Debian's /usr/bin/python3: h5py + numpy).

  write <dir>                      write small HDF5 files in Keras 2 layout (good and bad ones)
  reference <file.h5> <out.json> <n>  forward pass of <n> fixed inputs with a NumPy interpreter
                                   written here from the raw HDF5 arrays (independent of the importer)

No Keras is needed: the files are written with h5py exactly as Keras 2.0-2.2 `model.save` lays them out.
"""
import json
import sys

import h5py
import numpy as np

# ---------------------------------------------------------------- writing fixtures

rng = np.random.default_rng(1234)


def reg(l2):
    return {"class_name": "L1L2", "config": {"l1": 0.0, "l2": l2}}


def conv(name, filters, k, padding="same", strides=1, bias=True, activation="linear", **extra):
    cfg = {"name": name, "trainable": True, "filters": filters, "kernel_size": [k, k], "strides": [strides, strides],
           "padding": padding, "data_format": "channels_last", "dilation_rate": [1, 1], "activation": activation,
           "use_bias": bias, "kernel_initializer": {"class_name": "VarianceScaling", "config": {}},
           "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": reg(0.01),
           "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None}
    cfg.update(extra)
    return "Conv2D", cfg


def sepconv(name, filters, k, bias=False, depth_multiplier=1, padding="same"):
    cfg = {"name": name, "trainable": True, "filters": filters, "kernel_size": [k, k], "strides": [1, 1],
           "padding": padding, "data_format": "channels_last", "dilation_rate": [1, 1], "depth_multiplier": depth_multiplier,
           "activation": "linear", "use_bias": bias, "depthwise_initializer": {"class_name": "VarianceScaling", "config": {}},
           "pointwise_initializer": {"class_name": "VarianceScaling", "config": {}},
           "bias_initializer": {"class_name": "Zeros", "config": {}}, "depthwise_regularizer": reg(0.01),
           "pointwise_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
           "depthwise_constraint": None, "pointwise_constraint": None, "bias_constraint": None}
    return "SeparableConv2D", cfg


def bn(name, center=True, scale=True):
    return "BatchNormalization", {"name": name, "trainable": True, "axis": -1, "momentum": 0.99, "epsilon": 0.001,
                                  "center": center, "scale": scale, "beta_initializer": {"class_name": "Zeros", "config": {}},
                                  "gamma_initializer": {"class_name": "Ones", "config": {}},
                                  "moving_mean_initializer": {"class_name": "Zeros", "config": {}},
                                  "moving_variance_initializer": {"class_name": "Ones", "config": {}},
                                  "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None, "gamma_constraint": None}


def act(name, a):
    return "Activation", {"name": name, "trainable": True, "activation": a}


def pool(cls, name, size, strides=None, padding="valid"):
    return cls, {"name": name, "trainable": True, "pool_size": [size, size], "strides": None if strides is None else [strides, strides],
                 "padding": padding, "data_format": "channels_last"}


def simple(cls, name, **cfg):
    return cls, dict({"name": name, "trainable": True}, **cfg)


def weights_for(cls, cfg, in_ch):
    """Random weights in Keras order and layout for one layer, given its input channels."""
    r = lambda *s: rng.normal(0, 0.25, size=s).astype(np.float32)
    # Kernels scaled by fan-in so activations stay O(1) through deep stacks (no saturated softmax).
    kern = lambda *s: (rng.normal(0, 1.0, size=s) / np.sqrt(np.prod(s[:-1]))).astype(np.float32)
    n = cfg["name"]
    if cls == "Conv2D":
        k = cfg["kernel_size"]
        w = [(f"{n}/kernel:0", kern(k[0], k[1], in_ch, cfg["filters"]))]
        if cfg["use_bias"]:
            w.append((f"{n}/bias:0", r(cfg["filters"])))
        return w, cfg["filters"]
    if cls == "SeparableConv2D":
        k = cfg["kernel_size"]
        m = cfg["depth_multiplier"]
        w = [(f"{n}/depthwise_kernel:0", kern(k[0], k[1], in_ch, m) * np.sqrt(in_ch)), (f"{n}/pointwise_kernel:0", kern(1, 1, in_ch * m, cfg["filters"]))]
        if cfg["use_bias"]:
            w.append((f"{n}/bias:0", r(cfg["filters"])))
        return w, cfg["filters"]
    if cls == "BatchNormalization":
        w = []
        if cfg["scale"]:
            w.append((f"{n}/gamma:0", (1 + r(in_ch) * 0.3).astype(np.float32)))
        if cfg["center"]:
            w.append((f"{n}/beta:0", r(in_ch)))
        w.append((f"{n}/moving_mean:0", r(in_ch)))
        w.append((f"{n}/moving_variance:0", (0.5 + rng.random(in_ch)).astype(np.float32)))
        return w, in_ch
    if cls == "Dense":
        w = [(f"{n}/kernel:0", kern(in_ch, cfg["units"]))]
        if cfg["use_bias"]:
            w.append((f"{n}/bias:0", r(cfg["units"])))
        return w, cfg["units"]
    return [], in_ch


def write_file(path, model_config, layer_weights, with_optimizer=True, weights_only=False, version="2.0.5"):
    with h5py.File(path, "w") as f:
        if not weights_only:
            f.attrs["keras_version"] = np.bytes_(version)
            f.attrs["backend"] = np.bytes_("tensorflow")
            f.attrs["model_config"] = np.bytes_(json.dumps(model_config))
            f.attrs["training_config"] = np.bytes_(json.dumps({"loss": "categorical_crossentropy"}))
            g = f.create_group("model_weights")
        else:
            g = f
        g.attrs["keras_version"] = np.bytes_("2.0.5")
        g.attrs["backend"] = np.bytes_("tensorflow")
        g.attrs["layer_names"] = np.array([np.bytes_(n) for n, _ in layer_weights])
        for name, ws in layer_weights:
            lg = g.create_group(name)
            if ws:
                lg.attrs["weight_names"] = np.array([np.bytes_(wn) for wn, _ in ws])
            else:
                lg.attrs["weight_names"] = np.array([], dtype=np.float64)  # what Keras 2.0 writes for no weights
            for wn, arr in ws:
                lg.create_dataset(wn, data=arr)
        if with_optimizer and not weights_only:
            og = f.create_group("optimizer_weights")
            og.attrs["weight_names"] = np.array([b"Adam/iterations:0"])
            og.create_dataset("Adam/iterations:0", data=np.array(7, dtype=np.int64))


def functional(name, in_shape, layers, outputs):
    """layers: list of (cls, cfg, [input names]); returns a Keras 2.0 Model config and weights."""
    cfg_layers = [{"name": "input_1", "class_name": "InputLayer", "inbound_nodes": [],
                   "config": {"name": "input_1", "batch_input_shape": [None] + in_shape, "dtype": "float32", "sparse": False}}]
    chans = {"input_1": in_shape[-1]}
    lw = [("input_1", [])]
    for cls, cfg, ins in layers:
        cfg_layers.append({"name": cfg["name"], "class_name": cls, "config": cfg,
                           "inbound_nodes": [[[i, 0, 0, {}] for i in ins]]})
        w, out_ch = weights_for(cls, cfg, chans[ins[0]])
        chans[cfg["name"]] = out_ch
        lw.append((cfg["name"], w))
    mc = {"class_name": "Model", "config": {"name": name, "layers": cfg_layers,
                                            "input_layers": [["input_1", 0, 0]], "output_layers": [[outputs, 0, 0]]}}
    return mc, lw


def L(spec, *ins):
    return (spec[0], spec[1], list(ins))


def good_functional():
    # Residual block with every conv/pool flavour; the Add's inputs are listed branch B first.
    return functional("fixture_functional", [16, 16, 1], [
        L(conv("conv2d_1", 6, 3, padding="valid", bias=False), "input_1"),
        L(bn("batch_normalization_1"), "conv2d_1"),
        L(act("activation_1", "relu"), "batch_normalization_1"),
        L(conv("conv2d_2", 8, 1, strides=2, bias=False), "activation_1"),
        L(bn("batch_normalization_2", center=False), "conv2d_2"),
        L(sepconv("separable_conv2d_1", 8, 3, bias=True), "activation_1"),
        L(bn("batch_normalization_3", scale=False), "separable_conv2d_1"),
        L(act("activation_2", "tanh"), "batch_normalization_3"),
        L(sepconv("separable_conv2d_2", 8, 3), "activation_2"),
        L(pool("MaxPooling2D", "max_pooling2d_1", 3, 2, "same"), "separable_conv2d_2"),
        L(simple("Add", "add_1"), "max_pooling2d_1", "batch_normalization_2"),
        L(pool("AveragePooling2D", "average_pooling2d_1", 3, 2, "same"), "add_1"),
        L(simple("Dropout", "dropout_1", rate=0.5), "average_pooling2d_1"),
        L(conv("conv2d_3", 2, 3), "dropout_1"),
        L(simple("GlobalAveragePooling2D", "global_average_pooling2d_1", data_format="channels_last"), "conv2d_3"),
        L(act("predictions", "softmax"), "global_average_pooling2d_1"),
    ], "predictions")


def sequential_layers(first_input_shape):
    specs = [
        conv("conv2d_1", 4, 3, activation="relu"),
        pool("AveragePooling2D", "average_pooling2d_1", 2),
        bn("batch_normalization_1"),
        pool("MaxPooling2D", "max_pooling2d_1", 2, padding="same"),
        simple("Dropout", "dropout_1", rate=0.25),
        simple("Flatten", "flatten_1"),
        simple("Dense", "dense_1", units=5, activation="elu", use_bias=True),
        simple("Dense", "dense_2", units=7, activation="softmax", use_bias=False),
    ]
    chans = first_input_shape[-1]
    out, lw = [], []
    for i, (cls, cfg) in enumerate(specs):
        if cls == "Dense" and cfg["name"] == "dense_1":
            chans = 3 * 3 * 4  # 12 -> avgpool 6 -> maxpool(same) 3, 4 channels
        w, chans = weights_for(cls, cfg, chans)
        if i == 0 and first_input_shape is not None:
            cfg = dict(cfg, batch_input_shape=[None] + first_input_shape, dtype="float32")
        out.append({"class_name": cls, "config": cfg})
        lw.append((cfg["name"], w))
    return out, lw


def paper_simple_cnn(num_classes=7, size=48):
    """The paper's simple_CNN exactly as its code builds it (Keras 2.0 Sequential layout)."""
    specs = []
    n = {"c": 0, "b": 0, "a": 0, "p": 0, "d": 0}

    def nm(k, prefix):
        n[k] += 1
        return f"{prefix}_{n[k]}"

    def c(filters, k, name=None):
        s = conv(name or nm("c", "conv2d"), filters, k, padding="same")
        s[1]["kernel_regularizer"] = None
        specs.append(s)

    for i, (f, k) in enumerate([(16, 7), (32, 5), (64, 3), (128, 3)]):
        c(f, k, "image_array" if i == 0 else None)
        specs.append(bn(nm("b", "batch_normalization")))
        c(f, k)
        specs.append(bn(nm("b", "batch_normalization")))
        specs.append(act(nm("a", "activation"), "relu"))
        specs.append(pool("AveragePooling2D", nm("p", "average_pooling2d"), 2, padding="same"))
        specs.append(simple("Dropout", nm("d", "dropout"), rate=0.5))
    c(256, 3)
    specs.append(bn(nm("b", "batch_normalization")))
    c(num_classes, 3)
    specs.append(simple("GlobalAveragePooling2D", "global_average_pooling2d_1"))
    specs.append(act("predictions", "softmax"))
    chans = 1
    out, lw = [], []
    for i, (cls, cfg) in enumerate(specs):
        w, chans = weights_for(cls, cfg, chans)
        if i == 0:
            cfg = dict(cfg, batch_input_shape=[None, size, size, 1], dtype="float32")
        out.append({"class_name": cls, "config": cfg})
        lw.append((cfg["name"], w))
    return {"class_name": "Sequential", "config": out}, lw


def write_all(d):
    mc, lw = paper_simple_cnn()
    write_file(f"{d}/simple_cnn.h5", mc, lw)
    mc, lw = good_functional()
    write_file(f"{d}/functional.h5", mc, lw)
    # Keras 2.0 Sequential: config is the layer list, the first layer carries batch_input_shape.
    layers, lw2 = sequential_layers([12, 12, 3])
    write_file(f"{d}/sequential.h5", {"class_name": "Sequential", "config": layers}, lw2, with_optimizer=False)
    # Keras 2.2 Sequential: {"name", "layers"} with an explicit InputLayer.
    layers3, lw3 = sequential_layers([12, 12, 1])
    layers3[0]["config"].pop("batch_input_shape")
    layers3[0]["config"].pop("dtype")
    layers3 = [{"class_name": "InputLayer", "config": {"name": "input_1", "batch_input_shape": [None, 12, 12, 1], "dtype": "float32", "sparse": False}}] + layers3
    # Weights for a 1-channel input.
    layers3_w = []
    for name, ws in lw3:
        if name == "conv2d_1":
            ws = [(ws[0][0], ws[0][1][:, :, :1, :]), ws[1]]
        layers3_w.append((name, ws))
    write_file(f"{d}/sequential_dict.h5", {"class_name": "Sequential", "config": {"name": "seq", "layers": layers3}}, [("input_1", [])] + layers3_w)

    def mutate(fname, fn, weights=None):
        m, w = good_functional()
        fn(m["config"]["layers"])
        write_file(f"{d}/{fname}", m, weights(w) if weights else w)

    def find(layers, name):
        return next(l for l in layers if l["name"] == name)

    def lstm(layers):
        l = find(layers, "conv2d_3")
        l["class_name"] = "LSTM"
        l["config"] = {"name": "conv2d_3", "units": 2, "return_sequences": False}

    mutate("bad_lstm.h5", lstm)
    mutate("bad_depth_multiplier.h5", lambda ls: find(ls, "separable_conv2d_2")["config"].update(depth_multiplier=2))
    mutate("bad_dilation.h5", lambda ls: find(ls, "conv2d_3")["config"].update(dilation_rate=[2, 2]))
    mutate("bad_activation.h5", lambda ls: find(ls, "activation_2")["config"].update(activation="hard_sigmoid"))
    mutate("bad_channels_first.h5", lambda ls: find(ls, "max_pooling2d_1")["config"].update(data_format="channels_first"))
    mutate("bad_unknown_attr.h5", lambda ls: find(ls, "conv2d_1")["config"].update(groups=2))

    def wrong_shape(w):
        return [(n, [(wn, a[..., :-1]) if wn.endswith("kernel:0") and n == "conv2d_3" else (wn, a) for wn, a in ws]) for n, ws in w]

    mutate("bad_weight_shape.h5", lambda ls: None, wrong_shape)
    mutate("bad_missing_weights.h5", lambda ls: None, lambda w: [(n, [] if n == "batch_normalization_1" else ws) for n, ws in w])
    write_file(f"{d}/weights_only.h5", None, lw, weights_only=True)
    write_file(f"{d}/keras1.h5", mc, lw, version="1.2.2")
    write_newer_layouts(d)


def write_newer_layouts(d):
    """The same network and weights in the tf.keras 2.x layout and the Keras 3 legacy-h5 layout."""
    import copy
    mc, lw = good_functional()
    tf_mc = copy.deepcopy(mc)
    tf_mc["class_name"] = "Functional"
    for l in tf_mc["config"]["layers"]:
        c = l["config"]
        c["dtype"] = "float32"
        if l["class_name"] == "InputLayer":
            c["ragged"] = False
        if l["class_name"] in ("Conv2D",):
            c["groups"] = 1
        if l["class_name"] == "BatchNormalization":
            c["axis"] = [3]
        if l["class_name"] == "GlobalAveragePooling2D":
            c["keepdims"] = False
        if l["class_name"] == "Dropout":
            c["noise_shape"] = None
            c["seed"] = None
    write_file(f"{d}/functional_tfkeras.h5", tf_mc, lw, version="2.13.1")

    k3 = copy.deepcopy(tf_mc)
    for l in k3["config"]["layers"]:
        l["module"] = "keras.layers"
        l["registered_name"] = None
        c = l["config"]
        c["dtype"] = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}
        if l["class_name"] == "InputLayer":
            c["batch_shape"] = c.pop("batch_input_shape")
            c.pop("ragged")
            continue
        if l["class_name"] == "BatchNormalization":
            c["synchronized"] = False
        refs = l["inbound_nodes"][0]
        tensors = [{"class_name": "__keras_tensor__", "config": {"shape": [None], "dtype": "float32", "keras_history": [r[0], r[1], r[2]]}} for r in refs]
        l["inbound_nodes"] = [{"args": [tensors] if len(tensors) > 1 else tensors, "kwargs": {"training": False} if l["class_name"] == "Dropout" else {}}]
    # Keras 3 stores weight names without the ":0" suffix.
    k3_lw = [(n, [(wn.replace(":0", ""), a) for wn, a in ws]) for n, ws in lw]
    write_file(f"{d}/functional_keras3.h5", k3, k3_lw, version="3.3.3")


# ---------------------------------------------------------------- NumPy reference forward pass

def same_pads(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def windows(x, kh, kw, sh, sw, padding, fill):
    """All kh x kw windows of NHWC x: returns [n, oh, ow, kh, kw, c] (TF padding rules)."""
    n, h, w, c = x.shape
    if padding == "same":
        oh, pt, pb = same_pads(h, kh, sh)
        ow, pl, pr = same_pads(w, kw, sw)
        x = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=fill)
    else:
        oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.empty((n, oh, ow, kh, kw, c), dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            out[:, :, :, i, j, :] = x[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw, :]
    return out


ACT = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "elu": lambda x: np.where(x > 0, x, np.exp(np.minimum(x, 0)) - 1),
    "softmax": lambda x: np.exp(x - x.max(-1, keepdims=True)) / np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True),
}


def run_layer(cls, cfg, w, xs):
    x = xs[0]
    if cls == "Conv2D":
        k = w[0]
        win = windows(x, k.shape[0], k.shape[1], *cfg["strides"], cfg["padding"], 0.0)
        y = np.einsum("nhwijc,ijco->nhwo", win, k)
        if cfg["use_bias"]:
            y = y + w[1]
        return ACT[cfg["activation"]](y)
    if cls == "SeparableConv2D":
        dk, pk = w[0], w[1]
        win = windows(x, dk.shape[0], dk.shape[1], *cfg["strides"], cfg["padding"], 0.0)
        d = np.einsum("nhwijc,ijcm->nhwcm", win, dk).reshape(win.shape[0], win.shape[1], win.shape[2], -1)
        y = np.einsum("nhwc,co->nhwo", d, pk[0, 0])
        if cfg["use_bias"]:
            y = y + w[2]
        return ACT[cfg["activation"]](y)
    if cls == "BatchNormalization":
        i = 0
        gamma = w[i] if cfg["scale"] else 1.0
        i += 1 if cfg["scale"] else 0
        beta = w[i] if cfg["center"] else 0.0
        i += 1 if cfg["center"] else 0
        mean, var = w[i], w[i + 1]
        return (x - mean) / np.sqrt(var + cfg["epsilon"]) * gamma + beta
    if cls == "Activation":
        return ACT[cfg["activation"]](x)
    if cls in ("MaxPooling2D", "AveragePooling2D"):
        ph, pw = cfg["pool_size"]
        sh, sw = cfg["strides"] or cfg["pool_size"]
        if cls == "MaxPooling2D":
            return windows(x, ph, pw, sh, sw, cfg["padding"], -np.inf).max(axis=(3, 4))
        s = windows(x, ph, pw, sh, sw, cfg["padding"], 0.0).sum(axis=(3, 4))
        cnt = windows(np.ones_like(x[:1, :, :, :1]), ph, pw, sh, sw, cfg["padding"], 0.0).sum(axis=(3, 4))
        return s / cnt  # TF averages over the valid (unpadded) cells only
    if cls == "GlobalAveragePooling2D":
        return x.mean(axis=(1, 2))
    if cls == "Add":
        return sum(xs)
    if cls == "Dropout":
        return x
    if cls == "Flatten":
        return x.reshape(x.shape[0], -1)
    if cls == "Dense":
        y = x @ w[0]
        if cfg["use_bias"]:
            y = y + w[1]
        return ACT[cfg["activation"]](y)
    raise ValueError(f"reference: no implementation for {cls}")


def fixed_input(n, h, w, c):
    return _fixed(n, h, w, c).astype(np.float32).astype(np.float64)


def _fixed(n, h, w, c):
    i = np.arange(n * h * w * c, dtype=np.float64).reshape(n, h, w, c)
    k = np.arange(n, dtype=np.float64).reshape(n, 1, 1, 1)
    y = np.arange(h, dtype=np.float64).reshape(1, h, 1, 1) / h
    # Texture plus a sample-dependent brightness gradient, so samples differ after global pooling.
    return 0.6 * np.sin(i * 0.731 + 0.3) * np.cos(i * 0.0173) + 0.4 * np.cos(k * 2.1 + y * (1 + k))  # in [-1, 1]


def reference(path, out, n):
    with h5py.File(path, "r") as f:
        mc = json.loads(f.attrs["model_config"])
        g = f["model_weights"]
        weights = {}
        for name in g.attrs["layer_names"]:
            name = name.decode() if isinstance(name, bytes) else name
            wn = [x.decode() if isinstance(x, bytes) else x for x in g[name].attrs["weight_names"]]
            weights[name] = [np.array(g[name][x], dtype=np.float64) for x in wn]
    cfg = mc["config"]
    if mc["class_name"] == "Sequential":
        layers = cfg if isinstance(cfg, list) else cfg["layers"]
        first = layers[0]["config"]
        shape = first["batch_input_shape"]
        x = fixed_input(n, *shape[1:])
        inp = x
        for l in layers:
            if l["class_name"] == "InputLayer":
                continue
            x = run_layer(l["class_name"], l["config"], weights.get(l["config"]["name"], []), [x])
    else:
        tensors = {}
        inp = None
        pending = list(cfg["layers"])
        while pending:
            rest = []
            for l in pending:
                if l["class_name"] == "InputLayer":
                    inp = fixed_input(n, *l["config"]["batch_input_shape"][1:])
                    tensors[l["name"]] = inp
                    continue
                ins = [r[0] for r in l["inbound_nodes"][0]]
                if all(i in tensors for i in ins):
                    tensors[l["name"]] = run_layer(l["class_name"], l["config"], weights.get(l["name"], []), [tensors[i] for i in ins])
                else:
                    rest.append(l)
            if len(rest) == len(pending):
                raise ValueError("reference: unresolved graph")
            pending = rest
        x = tensors[cfg["output_layers"][0][0]]
    with open(out, "w") as fo:
        json.dump({"inputShape": list(inp.shape), "input": inp.astype(np.float32).ravel().tolist(),
                   "outputShape": list(x.shape), "output": x.ravel().tolist()}, fo)


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write_all(sys.argv[2])
    elif sys.argv[1] == "reference":
        reference(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        raise SystemExit(__doc__)
