"""The release recipe (issue 16): the optimiser, its groups and schedule, the 50:50 sampler, the views, the
colour jitter and the paper configs, each against the PeCLR release's formulas written out here."""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torchvision
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import MODELS, PARAM_SCHEDULERS
from torch import nn
from torch.utils.data import WeightedRandomSampler

import peclr_mm.selfsup  # noqa: F401
from peclr_mm.selfsup import (
    HSVColorJitter,
    LARSAdam,
    MixedHandDataset,
    ReleaseHandView,
    SourceBalancedSampler,
)
from peclr_mm.selfsup.equivariance import canonicalize

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / 'configs' / 'peclr'
RELEASE = {
    'peclr50': CONFIGS / 'peclr_resnet50_1xb128-accum16-amp-100e_freihand-yt3dh-128px.py',
    'peclr152': CONFIGS / 'peclr_resnet152_1xb128-accum16-amp-100e_freihand-yt3dh-128px.py',
    'simclr50': CONFIGS / 'simclr_resnet50_1xb128-accum16-amp-100e_freihand-yt3dh-128px.py',
    'peclr50-fh': CONFIGS / 'peclr_resnet50_1xb128-accum16-amp-100e_freihand-128px.py',
}


# -- the release's optimiser: torch Adam inside bolts 0.2.2 LARSWrapper, written out -------------------------

def _bolts_lars_step(adam: torch.optim.Adam, eta=0.02, clip=True, eps=1e-8) -> None:
    """pytorch-lightning-bolts 0.2.2 ``LARSWrapper.step`` around ``adam`` (per-parameter Python loop)."""
    decays = []
    with torch.no_grad():
        for group in adam.param_groups:
            wd = group.get('weight_decay', 0)
            decays.append(wd)
            group['weight_decay'] = 0
            for p in group['params']:
                if p.grad is None:
                    continue
                p_norm, g_norm = torch.norm(p.data), torch.norm(p.grad.data)
                if p_norm != 0 and g_norm != 0:
                    new_lr = (eta * p_norm) / (g_norm + p_norm * wd + eps)
                    if clip:
                        new_lr = min(new_lr / group['lr'], 1)
                    p.grad.data += wd * p.data
                    p.grad.data *= new_lr
    adam.step()
    for group, wd in zip(adam.param_groups, decays):
        group['weight_decay'] = wd


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.big = nn.Linear(16, 32)
        self.small = nn.Linear(32, 4)
        self.bn = nn.BatchNorm1d(32)  # bias 0 at start: the |p| = 0 branch
        self.unused = nn.Linear(4, 4)  # never gets a gradient

    def forward(self, x):
        return self.small(torch.relu(self.bn(self.big(x))))


def test_lars_adam_equals_adam_in_bolts_lars_wrapper_step_by_step():
    torch.manual_seed(0)
    ours_net, ref_net = _Net().double(), _Net().double()
    ref_net.load_state_dict(ours_net.state_dict())

    def groups(net):
        decay = [net.big.weight, net.small.weight, net.bn.weight, net.unused.weight]
        return [dict(params=decay, weight_decay=1e-2), dict(params=[net.big.bias, net.small.bias, net.bn.bias,
                                                                    net.unused.bias], weight_decay=0.0)]

    base = 0.05
    ours = LARSAdam(groups(ours_net), lr=base, weight_decay=1e-2)
    ref = torch.optim.Adam(groups(ref_net), lr=base)
    x = torch.randn(8, 16, dtype=torch.float64)
    for step, (lr, gscale) in enumerate([(0.0, 1.0), (0.01, 1e4), (base, 1e-5), (base, 1.0), (0.02, 3e2)]):
        for opt in (ours, ref):
            for g in opt.param_groups:
                g['lr'] = lr
        for net, opt in ((ours_net, ours), (ref_net, ref)):
            opt.zero_grad()
            out = net(x)
            (gscale * out[:, :2].pow(2).sum() + out[:, 2:].sum()).backward()
        ours.step()
        _bolts_lars_step(ref)
        for (name, p), q in zip(ours_net.named_parameters(), ref_net.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14, msg=f'step {step}: {name}')
    assert ours.param_groups[0]['weight_decay'] == 1e-2  # restored after the step
    assert torch.equal(ours_net.unused.weight, ref_net.unused.weight)


def _release_model_names() -> list[str]:
    """Parameter names of the release's Hybrid2Model (encoder.features = torchvision ResNet-50 children,
    projection_head = Linear, BN, ReLU, Linear), its unused final_layer left out."""
    rn = torchvision.models.resnet50()
    features = nn.Sequential(rn.conv1, rn.bn1, rn.relu, rn.maxpool, rn.layer1, rn.layer2, rn.layer3, rn.layer4)
    head = nn.Sequential(nn.Linear(2048, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, 128, bias=False))
    model = nn.Module()
    model.encoder = nn.Module()
    model.encoder.features = features
    model.projection_head = head
    return [(n, p.shape) for n, p in model.named_parameters()]


def test_release_weight_decay_groups_and_optimiser_from_the_paper_config():
    cfg = Config.fromfile(str(RELEASE['peclr50']))
    model_cfg = cfg.model.copy()
    model_cfg.backbone = dict(model_cfg.backbone, init_cfg=None)
    model = MODELS.build(model_cfg)
    wrapper_cfg = dict(cfg.optim_wrapper, type='OptimWrapper')  # AMP needs a GPU; the optimiser is the same
    wrapper_cfg.pop('dtype'), wrapper_cfg.pop('loss_scale')
    optim = build_optim_wrapper(model, wrapper_cfg).optimizer
    assert isinstance(optim, LARSAdam) and (optim.eta, optim.clip, optim.lars_eps) == (0.02, True, 1e-8)
    decay, no_decay = optim.param_groups
    assert decay['lr'] == pytest.approx(1e-4 * math.sqrt(128 * 16)) and decay['weight_decay'] == 1e-6
    assert no_decay['weight_decay'] == 0.0
    # the release's rule on the release's names, parameter by parameter (same order and shapes as ours)
    release = _release_model_names()
    ours = list(model.named_parameters())
    assert [tuple(s) for _, s in release] == [tuple(p.shape) for _, p in ours]
    no_decay_ids = {id(p) for p in no_decay['params']}
    expected = [any(k in n for k in ('bias', 'bn')) for n, _ in release]
    assert [id(p) in no_decay_ids for _, p in ours] == expected
    # the stem BN, downsample BNs and the projection BN weight are decayed, as in the release
    by_name = dict(ours)
    for name in ('backbone.bn1.weight', 'backbone.layer1.0.downsample.1.weight', 'neck.bn0.weight'):
        assert id(by_name[name]) not in no_decay_ids, name
    # any nn.Module builds
    other = build_optim_wrapper(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)), wrapper_cfg)
    assert other.optimizer.param_groups[1]['params'] and other._accumulative_counts == 16
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.optim_wrapper.dtype == 'float16'


def _bolts_lr(k: int, base: float, W: int, M: int) -> float:
    """bolts 0.2.2 LinearWarmupCosineAnnealingLR at scheduler step k (warmup_start_lr = eta_min = 0)."""
    if k < W:
        return float(np.linspace(0.0, base, W)[k])
    return 0.5 * base * (1 + math.cos(math.pi * (k - W) / (M - W)))


def test_schedule_is_the_releases_in_optimizer_steps():
    cfg = Config.fromfile(str(RELEASE['peclr50']))
    sched_cfg = cfg.param_scheduler[0]
    base = 1e-4 * math.sqrt(2048)
    opt = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=base)
    epoch_length = 1384  # iterations (batches of 128) per epoch
    sched = PARAM_SCHEDULERS.build(dict(sched_cfg, end=100), default_args=dict(optimizer=opt,
                                                                               epoch_length=epoch_length))
    W, M = 10 * epoch_length // 16, 100 * epoch_length // 16  # the release's warmup_epochs / max_epochs
    assert (sched.warmup_steps, sched.max_steps, sched.accumulative_counts) == (W, M, 16)
    for it in range(0, 100 * epoch_length):
        if it % 997 == 0 or it in (15, 16, 16 * W - 1, 16 * W, 16 * W + 15):
            assert opt.param_groups[0]['lr'] == pytest.approx(_bolts_lr(it // 16, base, W, M), rel=1e-12,
                                                              abs=1e-15), it
        sched.step()


# -- 50:50 sampling -----------------------------------------------------------------------------------------

class _Source(torch.utils.data.Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


def test_source_sampler_is_the_releases_weighted_random_sampler(monkeypatch):
    sizes = (120, 1080)
    mixed = MixedHandDataset([_Source(n) for n in sizes])
    sampler = SourceBalancedSampler(mixed, seed=7)
    # the release: per-item weight 1 / len(source), normalised, with replacement, len(dataset) draws
    weights = []
    for n in sizes:
        weights += [1.0 / n] * n
    weights = np.array(weights) / sum(weights)
    g = torch.Generator()
    g.manual_seed(7)
    assert list(sampler) == list(WeightedRandomSampler(weights, num_samples=sum(sizes), replacement=True,
                                                       generator=g))
    # half of every epoch from each source, a new draw per epoch
    share, draws = [], set()
    for epoch in range(5):
        sampler.set_epoch(epoch)
        idx = np.array(list(sampler))
        share.append(np.mean(idx < sizes[0]))
        draws.add(tuple(idx))
    assert abs(np.mean(share) - 0.5) < 0.02 and len(draws) == 5
    # ranks take disjoint slices of one draw
    monkeypatch.setattr('peclr_mm.selfsup.source_sampler.get_dist_info', lambda: (1, 2))
    rank1 = SourceBalancedSampler(mixed, seed=7)
    assert len(rank1) == 600 and list(rank1) == sampler.draw(0)[1::2].tolist()
    with pytest.raises(ValueError, match='no weights'):
        SourceBalancedSampler(MixedHandDataset([_Source(3), _Source(4)], weights=[1, 1]))


# -- the release's views ------------------------------------------------------------------------------------

def _release_view(img, kp, angle, margin, jitter, size=128):
    """SampleAugmenter.transform_sample (rotate, crop, resize) with the random draws given."""
    kp = kp.copy()
    cx, cy = int(kp[:, 0].mean()), int(kp[:, 1].mean())  # get_crop_size(jitter=[0, 0], crop_margin=0.0)
    rot = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    img = cv2.warpAffine(img, rot, (img.shape[1], img.shape[0]))
    kp = np.c_[kp, np.ones(len(kp))] @ rot.T
    cy, cx = int(kp[:, 1].mean()), int(kp[:, 0].mean())
    side = int(max((kp[:, 1] - cy) ** 2 + (kp[:, 0] - cx) ** 2) ** 0.5 * margin)
    ox, oy = max(cx - side + jitter[0], 0), max(cy - side + jitter[1], 0)
    crop = img[oy:oy + int(2 * side), ox:ox + int(2 * side), :]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA), (cx - side - ox, cy - side - oy)


def _hand(seed, w=224, h=224):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    kp = rng.uniform(40, 180, (21, 2))
    return img, kp


def test_release_view_equals_the_release_augmenter():
    t = ReleaseHandView()
    angles, jitters, margins = [], [], []
    for seed in range(60):
        img, kp = _hand(seed, w=224 + 40 * (seed % 3))
        np.random.seed(seed)
        out = t(dict(img=img, hand_keypoints=kp, img_path=f'{seed}.jpg'))
        rec = out['peclr_release']
        # the draws: angle = floor(U(-45, 45)), margin ~ U(0.9, 1.5), jitter = int(U(0, 15))
        np.random.seed(seed)
        a = float(np.floor(np.random.uniform(-45, 45)))
        m = float(np.random.uniform(0.9, 1.5))
        j = (int(np.random.uniform(0, 15)), int(np.random.uniform(0, 15)))
        ref, record = _release_view(img, kp, a, m, j)
        assert (rec['angle'], rec['margin']) == (a, m)
        np.testing.assert_array_equal(out['img'], ref)
        assert tuple(rec['jitter']) == record
        angles.append(a), margins.append(m), jitters.append(j)
        # the record PeCLR receives: theta = -angle, t = jitter / 128
        G = out['aug_norm']
        assert math.isclose(math.atan2(G[1, 0], G[0, 0]), -math.radians(a), abs_tol=1e-12)
        np.testing.assert_allclose(G[:2, 2], np.array(record) / 128, atol=1e-15)
    assert set(angles) <= set(range(-45, 45)) and min(angles) < -30 and max(angles) > 30
    assert set(np.ravel(jitters)) <= set(range(15)) and 0.9 <= min(margins) <= max(margins) < 1.5


def test_release_view_mirrors_left_hands_as_the_youtube_loader():
    img, kp = _hand(3)
    np.random.seed(0)
    out = ReleaseHandView()(dict(img=img, hand_keypoints=kp, flip_left=True))
    rec = out['peclr_release']
    flipped = kp.copy()
    flipped[:, 0] = img.shape[1] - flipped[:, 0]  # youtube_loader: width - x
    np.random.seed(0)
    a, m = float(np.floor(np.random.uniform(-45, 45))), float(np.random.uniform(0.9, 1.5))
    j = (int(np.random.uniform(0, 15)), int(np.random.uniform(0, 15)))
    ref, _ = _release_view(cv2.flip(img, 1), flipped, a, m, j)
    assert (rec['angle'], rec['margin']) == (a, m)
    np.testing.assert_array_equal(out['img'], ref)
    with pytest.raises(KeyError, match='x.jpg: ReleaseHandView needs "hand_keypoints"'):
        ReleaseHandView()(dict(img=img, img_path='x.jpg'))


def test_release_inverse_on_release_views():
    """PeCLR(mode='official') on the views' records = hybrid2_model.get_transformed_projections."""
    torch.manual_seed(0)
    recs = []
    for seed in range(6):
        img, kp = _hand(seed)
        np.random.seed(seed)
        recs.append(ReleaseHandView()(dict(img=img, hand_keypoints=kp))['peclr_release'])
    aug = torch.tensor(np.stack([peclr_mm.selfsup.release_view.release_aug_norm(r['angle'], r['jitter'], 128)
                                 for r in recs]), dtype=torch.float32)
    z = torch.randn(6, 128)
    ours = nn.functional.normalize(canonicalize(z, aug, ('rotate', 'translate'), 'official', 'both').flatten(1))
    # the release, literally: normalise; translate_encodings(p, -jitter_x / 128, -jitter_y / 128); rotate_encoding(p,
    # -angle); normalise
    p = nn.functional.normalize(z).view(6, -1, 2).clone()
    jx = torch.tensor([r['jitter'][0] / 128.0 for r in recs])
    jy = torch.tensor([r['jitter'][1] / 128.0 for r in recs])
    span = p.detach().amax(1) - p.detach().amin(1)
    p[..., 0] += (-jx * span[:, 0]).view(-1, 1)
    p[..., 1] += (-jy * span[:, 1]).view(-1, 1)
    angle = -torch.tensor([r['angle'] for r in recs]) * np.pi / 180
    alpha, beta = torch.cos(angle), torch.sin(angle)
    c = p.detach().mean(1)
    rot = torch.zeros(6, 3, 2)
    rot[:, :, 0] = torch.stack([alpha, beta, (1 - alpha) * c[:, 0] - beta * c[:, 1]], 1)
    rot[:, :, 1] = torch.stack([-beta, alpha, (1 - alpha) * c[:, 1] + beta * c[:, 0]], 1)
    p = torch.bmm(torch.cat([p, torch.ones_like(p[..., :1])], 2), rot)
    torch.testing.assert_close(ours, nn.functional.normalize(p.reshape(6, -1)), atol=1e-6, rtol=1e-5)


def test_release_colour_jitter_equals_the_release_formula():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    bgr = np.ascontiguousarray(rgb[..., ::-1])  # what mmcv loads
    t = HSVColorJitter(rgb_input=True, rounding='floor')
    for seed in range(5):
        np.random.seed(seed)
        out = t(dict(img=bgr.copy()))['img']
        np.random.seed(seed)
        np.random.rand()  # the transform's prob draw
        h, s = np.random.uniform(0.01, 1.0), np.random.uniform(0.01, 1.0)
        a, b = np.random.uniform(0.5, 1.0), np.random.uniform(5, 20)
        # SampleAugmenter.color_jitter_sample on the release's RGB image
        hue, sat, val = cv2.split(cv2.cvtColor(rgb, cv2.COLOR_BGR2HSV))
        hue, sat, val = np.clip(hue * h, 0, 255), np.clip(sat * s, 0, 255), np.clip(val * a + b, 0, 255)
        ref = cv2.cvtColor(cv2.merge([hue, sat, val]).astype(np.uint8), cv2.COLOR_HSV2BGR)
        np.testing.assert_array_equal(out, ref[..., ::-1])


# -- the paper configs --------------------------------------------------------------------------------------

@pytest.mark.parametrize('key', list(RELEASE))
def test_paper_configs_are_the_release_recipe(key):
    cfg = Config.fromfile(str(RELEASE[key]))
    m = cfg.model
    assert (m.type, m.mode, m.normalize, m.head.temperature) == ('PeCLR', 'official', 'both', 0.5)
    assert tuple(m.undo) == (() if key.startswith('simclr') else ('rotate', 'translate'))
    depth = 152 if '152' in key else 50
    assert m.backbone.depth == depth
    assert m.backbone.init_cfg == dict(type='Pretrained', checkpoint=f'torchvision://resnet{depth}')
    assert (m.neck.in_channels, m.neck.hid_channels, m.neck.out_channels) == (2048, 512, 128)
    loader = cfg.train_dataloader
    assert loader.batch_size == 128 and cfg.optim_wrapper.accumulative_counts == 16
    assert loader.sampler.type == 'SourceBalancedSampler'
    assert cfg.optim_wrapper.optimizer.type == 'LARSAdam' and cfg.train_cfg.max_epochs == 100
    sources = [d.type for d in loader.dataset.datasets]
    assert sources == (['FreiHandImages'] if key.endswith('-fh') else ['FreiHandImages', 'YouTube3DHands'])
    view, jitter = loader.dataset.datasets[0].pipeline[1].transforms[0]
    assert view == dict(type='ReleaseHandView', size=128, max_angle=45, margin=(0.9, 1.5), jitter=15)
    assert (jitter.rounding, jitter.rgb_input) == ('floor', True)


@pytest.mark.parametrize('key', ['peclr50', 'peclr152'])
def test_paper_backbone_starts_from_the_imagenet_file(key, tmp_path):
    """init_weights() with a local torchvision-format file in place of the download: every tensor equal."""
    depth = 152 if '152' in key else 50
    torch.manual_seed(depth)
    ref = getattr(torchvision.models, f'resnet{depth}')()
    with torch.no_grad():
        for t in ref.state_dict().values():
            if t.is_floating_point():
                t.uniform_(-1, 1)
    path = tmp_path / f'resnet{depth}.pth'
    torch.save(ref.state_dict(), path)
    cfg = Config.fromfile(str(RELEASE[key]))
    backbone = MODELS.build(dict(cfg.model.backbone, init_cfg=dict(cfg.model.backbone.init_cfg,
                                                                  checkpoint=str(path)), norm_cfg=dict(type='BN')))
    backbone.init_weights()
    ours = backbone.state_dict()
    theirs = {k: v for k, v in ref.state_dict().items() if not k.startswith('fc.')}
    assert set(theirs) <= set(ours)
    for k, v in theirs.items():
        assert torch.equal(ours[k], v), k


def test_release_recipe_trains_in_a_runner(freihand_root, tmp_path):
    """The FreiHAND-only release config, shrunk (ResNet-18, batch 4, 2 accumulated), trains with upstream's
    Runner: the sampler, views, LARS-Adam and the schedule in optimizer steps."""
    from mmengine.runner import Runner
    cfg = Config.fromfile(str(RELEASE['peclr50-fh']))
    cfg.model.backbone = dict(type='ResNet', depth=18, norm_cfg=dict(type='BN'))
    cfg.model.neck.update(in_channels=512, hid_channels=32, out_channels=16, norm_cfg=dict(type='BN1d'))
    cfg.train_dataloader.update(batch_size=4, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.datasets[0].data_root = str(freihand_root)
    cfg.optim_wrapper = dict(type='OptimWrapper', optimizer=cfg.optim_wrapper.optimizer, accumulative_counts=2,
                             constructor='ReleaseWeightDecayConstructor')
    cfg.param_scheduler[0].accumulative_counts = 2
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
    cfg.custom_hooks = []
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    sched = runner.param_schedulers[0]
    assert (sched.warmup_steps, sched.max_steps) == (10 * 8 // 2, 100 * 8 // 2)  # 32 images / 4 per batch
    assert runner.iter == 8 and isinstance(runner.optim_wrapper.optimizer, LARSAdam)
    lr = runner.optim_wrapper.optimizer.param_groups[0]['lr']
    # the rate of the last optimizer step (iterations 7-8 = optimizer step 3 of the 40-step warm-up)
    assert lr == pytest.approx(1e-4 * math.sqrt(2048) * 3 / (40 - 1), rel=1e-12)
    assert isinstance(runner.train_dataloader.sampler, SourceBalancedSampler)
