"""PyTorch import: modules and state dicts against torch's own forward, the trainable
module round trip, checkpoints, and unsupported layers."""

from __future__ import annotations

import numpy as np
import pytest

import actif
from actif.model_spec import random_spec

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from actif.interchange.torch_import import (  # noqa: E402
    checkpoint_from_module,
    spec_from_torch,
    spec_from_torch_file,
)
from actif.interchange.torch_module import ActifLSTMModel, torch_module_from_spec  # noqa: E402
from test_interchange_onnx import assert_same_spec, sweep_spec  # noqa: E402


def torch_predict(module: nn.Module, X: np.ndarray, time_major: bool = False) -> np.ndarray:
    x = torch.from_numpy((X.transpose(1, 0, 2) if time_major else X).astype(np.float64).copy())
    with torch.no_grad():
        return module.double().eval()(x).numpy()


class Foval(nn.Module):
    """The FOVAL shape: LSTM -> max over time -> BatchNorm -> Linear -> ELU -> Dropout -> Linear."""

    def __init__(self, n_in=38, hidden=64, num_layers=1, batch_first=True):
        super().__init__()
        self.batch_first = batch_first
        self.lstm = nn.LSTM(n_in, hidden, num_layers=num_layers, batch_first=batch_first)
        self.bn = nn.BatchNorm1d(hidden)
        self.fc1 = nn.Linear(hidden, 32)
        self.act = nn.ELU()
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(32, 2)

    def forward(self, x):
        h, _ = self.lstm(x)
        pooled = torch.max(h, dim=1 if self.batch_first else 0).values
        return self.fc2(self.drop(self.act(self.fc1(self.bn(pooled)))))


def trained_stats(module: nn.Module) -> nn.Module:
    """Give BatchNorm layers non-trivial running statistics, as training would."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.3, 3.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return module.eval()


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("batch_first", [True, False])
def test_foval_module_matches_torch_forward(num_layers, batch_first, rng):
    torch.manual_seed(num_layers)
    module = trained_stats(Foval(num_layers=num_layers, batch_first=batch_first))
    spec = spec_from_torch(module)  # pooling detected by running the module
    assert spec.pooling == "max" and spec.num_layers == num_layers and spec.post_scale is not None
    X = rng.normal(size=(5, 10, 38)).astype(np.float32)
    want = torch_predict(module, X, time_major=not batch_first)
    np.testing.assert_allclose(actif.Model(spec, "numpy").predict(X), want, rtol=1e-5, atol=1e-6)


def test_sequential_head_and_batchnorm_after_linear_fold(rng):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, 6, batch_first=True)
            self.head = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Linear(5, 3), nn.Sigmoid())

        def forward(self, x):
            return self.head(self.lstm(x)[0].mean(dim=1))

    torch.manual_seed(3)
    module = trained_stats(Net())
    spec = spec_from_torch(module, pooling="mean")
    assert [d.activation for d in spec.dense] == ["tanh", "sigmoid"] and spec.post_scale is None
    X = rng.normal(size=(4, 7, 4)).astype(np.float32)
    np.testing.assert_allclose(actif.Model(spec, "numpy").predict(X), torch_predict(module, X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("k", range(6))
def test_spec_to_module_to_spec_is_exact(k, rng):
    spec = sweep_spec(k)
    module = torch_module_from_spec(spec)
    assert isinstance(module, ActifLSTMModel)
    back = spec_from_torch(module, feature_names=spec.feature_names)
    assert_same_spec(spec, back)
    X = rng.normal(size=(3, int(spec.window), spec.input_size)).astype(np.float32)
    np.testing.assert_allclose(torch_predict(module, X), actif.Model(spec, "numpy").predict(X), rtol=1e-5, atol=1e-6)


def test_module_from_spec_is_trainable(rng):
    spec = random_spec(4, 6, 1, pooling="max", normalization=True, seed=2)
    module = torch_module_from_spec(spec).train()
    trainable = {n for n, p in module.named_parameters() if p.requires_grad}
    assert "input_affine.scale" not in trainable and "lstm.0.weight_ih_l0" in trainable and "batchnorm.weight" in trainable
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    x = torch.from_numpy(rng.normal(size=(16, 10, 4)).astype(np.float32))
    loss = module(x).pow(2).mean()
    loss.backward()
    opt.step()
    module.eval()
    trained = spec_from_torch(module)  # running stats moved: folded from the new values
    X = rng.normal(size=(3, 10, 4)).astype(np.float32)
    np.testing.assert_allclose(actif.Model(trained, "numpy").predict(X), torch_predict(module, X), rtol=1e-5, atol=1e-6)
    assert not np.array_equal(trained.lstm[0].w_ih, spec.lstm[0].w_ih)


def test_state_dict_with_description(rng):
    torch.manual_seed(5)
    module = trained_stats(Foval(n_in=6, hidden=8, num_layers=2))
    desc = {"layers": ["lstm", "bn", "fc1", "elu", "fc2"], "pooling": "max", "window": 12}
    spec = spec_from_torch(module.state_dict(), description=desc)
    assert spec.window == 12
    X = rng.normal(size=(3, 12, 6)).astype(np.float32)
    np.testing.assert_allclose(actif.Model(spec, "numpy").predict(X), torch_predict(module, X), rtol=1e-5, atol=1e-6)


def test_state_dict_without_description_is_refused():
    with pytest.raises(actif.ModelFormatError, match="description"):
        spec_from_torch(Foval(n_in=3, hidden=4).state_dict())


def test_checkpoint_file_round_trip(tmp_path):
    spec = sweep_spec(3)
    path = tmp_path / "m.pt"
    torch.save(checkpoint_from_module(torch_module_from_spec(spec)), path)
    back = actif.load(path, backend="numpy").spec
    spec_names_dropped = spec.astype(np.float32)
    spec_names_dropped.feature_names = None
    assert_same_spec(spec_names_dropped, back)


def test_pickled_module_and_truncated_files_are_refused(tmp_path):
    whole = tmp_path / "whole.pt"
    torch.save(Foval(n_in=3, hidden=4), whole)
    with pytest.raises(actif.ModelFormatError, match="state_dict"):
        spec_from_torch_file(whole)
    good = tmp_path / "good.pt"
    torch.save(checkpoint_from_module(torch_module_from_spec(sweep_spec(1))), good)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(actif.ModelFormatError):
        spec_from_torch_file(cut)


def test_unsupported_layer_is_named():
    class WithConv(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(3, 4, batch_first=True)
            self.conv = nn.Conv1d(4, 4, 1)

    with pytest.raises(actif.ModelFormatError, match="conv.*Conv1d"):
        spec_from_torch(WithConv(), pooling="last")
    with pytest.raises(actif.ModelFormatError, match="bidirectional"):
        spec_from_torch(nn.LSTM(3, 4, bidirectional=True), pooling="last", verify=False)


def test_functional_activation_in_forward_is_caught():
    """forward() applies F.elu, which no layer shows: verification refuses the import."""

    class Hidden(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(3, 4, batch_first=True)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return nn.functional.elu(self.fc(self.lstm(x)[0][:, -1]) - 1.0)

    torch.manual_seed(0)
    with pytest.raises(actif.ModelFormatError, match="does not compute"):
        spec_from_torch(Hidden())
