"""A procedural right hand in FreiHAND's 21-joint order: shape, joint limits, forward kinematics, surface.

The hand is a kinematic tree of capsules (phalanges), a palm slab, a thenar capsule and a forearm capsule,
with MANO-like proportions so that FreiHAND's ``scale`` (bone 9-10, middle MCP -> PIP) is ~0.031 m for an
average hand. Everything here is in the *hand frame*: origin at the wrist joint, +x radial (thumb side),
+y distal (towards the fingertips), +z palmar (the palm faces +z); x, y, z is right-handed, which makes it
a right hand, like every FreiHAND sample. :mod:`.camera` places it in front of a camera.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from peclr_mm.freihand import NUM_VERTS  # as MANO / FreiHAND's *_verts.json
from peclr_mm.geometry import NUM_JOINTS, SKELETON

# Joint indices per finger, base to tip (thumb: CMC, MCP, IP, tip; fingers: MCP, PIP, DIP, tip), thumb first:
# the child joints of the plugin's SKELETON, four bones a finger.
FINGERS = tuple(tuple(child for _, child in SKELETON[k:k + 4]) for k in range(0, len(SKELETON), 4))

# --- rest shape (metres, average hand) ---------------------------------------------------------------
_MCP = np.array([[0.024, 0.086, 0.000],    # index
                 [0.002, 0.090, 0.000],    # middle
                 [-0.017, 0.084, 0.003],   # ring
                 [-0.033, 0.074, 0.008]])  # little (palm cups slightly towards the little finger)
_PHALANX = np.array([[0.030, 0.020, 0.022],   # proximal, middle, distal (DIP -> tip) per finger
                     [0.031, 0.022, 0.023],
                     [0.029, 0.021, 0.022],
                     [0.023, 0.016, 0.020]])
_THUMB_CMC = np.array([0.021, 0.024, 0.011])
_THUMB = np.array([0.034, 0.029, 0.027])       # CMC -> MCP (metacarpal), MCP -> IP, IP -> tip
# Rest splay of each finger from +y, degrees towards the thumb.
_SPLAY = np.deg2rad([7.0, 0.0, -7.0, -15.0])
# Capsule radius at each joint (base, two middle joints, tip end) per finger, thumb first.
_RADIUS = np.array([[0.0125, 0.0110, 0.0098, 0.0082],
                    [0.0092, 0.0084, 0.0076, 0.0066],
                    [0.0096, 0.0088, 0.0079, 0.0068],
                    [0.0090, 0.0082, 0.0074, 0.0064],
                    [0.0080, 0.0072, 0.0065, 0.0058]])
PALM_HALF_THICKNESS = 0.012
_WRIST_HALF_WIDTH = 0.026
# Thumb rest frame: metacarpal direction (radial, distal, palmar) and its flexion side (ulnar, palmar).
_THUMB_DIR = np.array([0.50, 0.72, 0.48])
_THUMB_PALMAR = np.array([-0.55, -0.10, 0.80])

# --- joint limits (degrees; flexion towards the palm is positive) --------------------------------------
# Per finger (index..little): MCP flexion, PIP flexion, DIP flexion, MCP abduction (towards the thumb).
FINGER_LIMITS = {"mcp": (-20.0, 90.0), "pip": (0.0, 110.0), "dip": (-5.0, 80.0), "abd": (-20.0, 20.0)}
# Thumb: CMC flexion (opposition across the palm), CMC abduction (away from the index), MCP and IP flexion.
THUMB_LIMITS = {"cmc_flex": (-20.0, 55.0), "cmc_abd": (-15.0, 40.0), "mcp": (-10.0, 60.0), "ip": (-15.0, 80.0)}

# --- the capsule list (indices into the joint array; -1 rows are extra capsules) ----------------------
# 15 phalanx capsules, thumb first; then the thenar eminence and the forearm.
PHALANX_CAPSULES = [(f[k], f[k + 1]) for f in FINGERS for k in range(3)]
NUM_CAPSULES = len(PHALANX_CAPSULES) + 2
THENAR, FOREARM = len(PHALANX_CAPSULES), len(PHALANX_CAPSULES) + 1


def _rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _thumb_frame() -> np.ndarray:
    """Columns (x = flexion axis, y = metacarpal direction, z = flexion side) of the rest thumb."""
    y = _THUMB_DIR / np.linalg.norm(_THUMB_DIR)
    z = _THUMB_PALMAR - (_THUMB_PALMAR @ y) * y
    z /= np.linalg.norm(z)
    return np.stack([np.cross(y, z), y, z], axis=1)


_THUMB_FRAME = _thumb_frame()


@dataclass(frozen=True)
class HandShape:
    """Per-identity shape: overall ``size`` (1 = average), bone-length jitter, capsule ``width`` factor."""

    size: float = 1.0
    finger_lengths: np.ndarray = field(default_factory=lambda: np.ones((4, 3)))  # multiplies _PHALANX
    thumb_lengths: np.ndarray = field(default_factory=lambda: np.ones(3))         # multiplies _THUMB
    width: float = 1.0


@dataclass(frozen=True)
class Articulation:
    """Joint angles in radians. ``fingers``: (4, 4) = MCP, PIP, DIP flexion and MCP abduction for
    index..little; ``thumb``: (4,) = CMC flexion, CMC abduction, MCP flexion, IP flexion."""

    fingers: np.ndarray
    thumb: np.ndarray

    def within_limits(self) -> bool:
        lo_f = np.deg2rad([FINGER_LIMITS[k][0] for k in ("mcp", "pip", "dip", "abd")])
        hi_f = np.deg2rad([FINGER_LIMITS[k][1] for k in ("mcp", "pip", "dip", "abd")])
        lo_t = np.deg2rad([THUMB_LIMITS[k][0] for k in ("cmc_flex", "cmc_abd", "mcp", "ip")])
        hi_t = np.deg2rad([THUMB_LIMITS[k][1] for k in ("cmc_flex", "cmc_abd", "mcp", "ip")])
        eps = 1e-9
        return bool(np.all((self.fingers >= lo_f - eps) & (self.fingers <= hi_f + eps))
                    and np.all((self.thumb >= lo_t - eps) & (self.thumb <= hi_t + eps)))


@dataclass(frozen=True)
class HandGeometry:
    """Everything the renderer and the annotation writer need, in one frame (hand or camera).

    joints: (21, 3); cap_a, cap_b: (C, 3) capsule end points with radii cap_ra, cap_rb: (C,);
    cap_dorsal: (C, 3) unit vectors to the back of each capsule (where the nail is); palm: (P, 3) outline
    of the palm's mid-surface; palm_normal: (3,) palmar normal; palm_half: half the palm's thickness (m);
    verts: (778, 3) surface points.
    """

    joints: np.ndarray
    cap_a: np.ndarray
    cap_b: np.ndarray
    cap_ra: np.ndarray
    cap_rb: np.ndarray
    cap_dorsal: np.ndarray
    palm: np.ndarray
    palm_normal: np.ndarray
    palm_half: float
    verts: np.ndarray

    def transformed(self, R: np.ndarray, t: np.ndarray) -> HandGeometry:
        """Rigidly move by x -> R x + t (R a rotation, so radii are unchanged)."""
        return HandGeometry(self.joints @ R.T + t, self.cap_a @ R.T + t, self.cap_b @ R.T + t, self.cap_ra,
                            self.cap_rb, self.cap_dorsal @ R.T, self.palm @ R.T + t, self.palm_normal @ R.T,
                            self.palm_half, self.verts @ R.T + t)


def sample_shape(rng: np.random.Generator) -> HandShape:
    """A random adult hand: size ~ N(1, 0.07) clipped to [0.85, 1.15] (scale 0.026-0.036 m), bones +-3 %."""
    return HandShape(size=float(np.clip(rng.normal(1.0, 0.07), 0.85, 1.15)),
                     finger_lengths=np.clip(rng.normal(1.0, 0.03, (4, 3)), 0.92, 1.08),
                     thumb_lengths=np.clip(rng.normal(1.0, 0.03, 3), 0.92, 1.08),
                     width=float(rng.uniform(0.9, 1.12)))


def sample_articulation(rng: np.random.Generator) -> Articulation:
    """A natural pose: a shared grasp level with per-finger variation, sometimes a gesture (some fingers
    straight, others curled), coupled DIP/PIP flexion, spread that closes as the fingers flex, and a thumb
    that opposes more when the fingers curl. Always within FINGER_LIMITS / THUMB_LIMITS."""
    grasp = rng.beta(0.8, 1.1)
    curl = np.clip(grasp + rng.normal(0.0, 0.15, 4), 0.0, 1.0)
    if rng.random() < 0.35:  # gesture: each finger independently straight or curled
        straight = rng.random(4) < 0.5
        curl = np.where(straight, rng.uniform(0.0, 0.15, 4), rng.uniform(0.75, 1.0, 4))
    deg = np.deg2rad
    mcp = deg(curl * 85.0 + rng.normal(0.0, 8.0, 4) - 5.0)
    pip = deg(curl * 100.0 + rng.normal(0.0, 8.0, 4))
    dip = 0.7 * pip + deg(rng.normal(0.0, 5.0, 4))
    spread = rng.uniform(-0.4, 1.0)
    abd = deg(spread * np.array([10.0, 2.0, -8.0, -15.0]) + rng.normal(0.0, 3.0, 4))
    abd *= np.clip(np.cos(mcp), 0.3, 1.0)  # fingers close up as they flex
    fingers = np.stack([mcp, pip, dip, abd], axis=1)
    lo = deg([FINGER_LIMITS[k][0] for k in ("mcp", "pip", "dip", "abd")])
    hi = deg([FINGER_LIMITS[k][1] for k in ("mcp", "pip", "dip", "abd")])
    fingers = np.clip(fingers, lo, hi)

    oppose = np.clip(0.6 * rng.random() + 0.5 * grasp * rng.random(), 0.0, 1.0)
    thumb_curl = np.clip(0.7 * grasp + rng.normal(0.0, 0.25), 0.0, 1.0)
    thumb = deg([-15.0 + 65.0 * oppose + rng.normal(0.0, 5.0),
                 rng.uniform(-10.0, 35.0),
                 -5.0 + 55.0 * thumb_curl + rng.normal(0.0, 5.0),
                 -10.0 + 80.0 * thumb_curl + rng.normal(0.0, 8.0)])
    lo = deg([THUMB_LIMITS[k][0] for k in ("cmc_flex", "cmc_abd", "mcp", "ip")])
    hi = deg([THUMB_LIMITS[k][1] for k in ("cmc_flex", "cmc_abd", "mcp", "ip")])
    return Articulation(fingers=fingers, thumb=np.clip(thumb, lo, hi))


def _surface_template() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fixed parametrisation of the 778 surface points, so vertex k is the same body spot in every hand
    (like MANO's topology): 36 per phalanx capsule, 40 on the thenar capsule, 2 x 99 on the palm faces.

    Returns capsule ids (Nc,), capsule (t, angle) (Nc, 2), palm (u, v) (Np, 2), palm side +-1 (Np,).
    """
    ids, params = [], []
    ring = np.linspace(0.0, 2.0 * np.pi, 12, endpoint=False)
    for c in range(len(PHALANX_CAPSULES)):
        for t in (1.0 / 6.0, 0.5, 5.0 / 6.0):
            ids += [c] * len(ring)
            params += [(t, a + t) for a in ring]  # twist the rings a little so points don't line up
    ring = np.linspace(0.0, 2.0 * np.pi, 10, endpoint=False)
    for t in (0.2, 0.4, 0.6, 0.8):
        ids += [THENAR] * len(ring)
        params += [(t, a) for a in ring]
    u, v = np.meshgrid(np.linspace(0.04, 0.96, 11), np.linspace(0.05, 0.95, 9))
    uv = np.stack([u.ravel(), v.ravel()], axis=1)
    palm_uv = np.concatenate([uv, uv])
    side = np.concatenate([np.ones(len(uv)), -np.ones(len(uv))])
    assert len(ids) + len(palm_uv) == NUM_VERTS
    return np.array(ids), np.array(params), palm_uv, side


_TEMPLATE = _surface_template()


def forward_kinematics(shape: HandShape, pose: Articulation) -> HandGeometry:
    """Joints, capsules, palm outline and surface points of ``shape`` in ``pose``, in the hand frame."""
    s, w = shape.size, shape.size * shape.width
    joints = np.zeros((NUM_JOINTS, 3))
    frames = np.zeros((NUM_JOINTS, 3, 3))  # frame of the bone *ending* at each joint (x: flexion axis)
    # Thumb: rest frame at the CMC, abduction about the frame's z, flexion about its x, and a pronation
    # twist about its own axis that grows with opposition (the thumb pad turns to face the fingers).
    cmc_flex, cmc_abd, t_mcp, t_ip = pose.thumb
    R = _THUMB_FRAME @ _rot_z(-cmc_abd) @ _rot_x(cmc_flex) @ _rot_y(-0.8 * max(cmc_flex, 0.0))
    p = _THUMB_CMC * s
    joints[1] = p
    lengths = _THUMB * shape.thumb_lengths * s
    for k, (angle, length) in enumerate(zip((0.0, t_mcp, t_ip), lengths)):
        R = R @ _rot_x(angle)
        p = p + length * R[:, 1]
        joints[2 + k], frames[2 + k] = p, R
    for f in range(4):
        mcp, pip, dip, abd = pose.fingers[f]
        R = _rot_z(-(_SPLAY[f] + abd))
        p = _MCP[f] * s
        base = FINGERS[f + 1][0]
        joints[base] = p
        lengths = _PHALANX[f] * shape.finger_lengths[f] * s
        for k, (angle, length) in enumerate(zip((mcp, pip, dip), lengths)):
            R = R @ _rot_x(angle)
            p = p + length * R[:, 1]
            joints[base + 1 + k], frames[base + 1 + k] = p, R

    # Capsules: phalanges, then thenar (wrist's radial side -> middle of the thumb metacarpal), forearm.
    cap_a, cap_b = np.zeros((NUM_CAPSULES, 3)), np.zeros((NUM_CAPSULES, 3))
    cap_ra, cap_rb = np.zeros(NUM_CAPSULES), np.zeros(NUM_CAPSULES)
    cap_x, cap_z = np.zeros((NUM_CAPSULES, 3)), np.zeros((NUM_CAPSULES, 3))
    for c, (a, b) in enumerate(PHALANX_CAPSULES):
        finger, k = divmod(c, 3)
        cap_a[c], cap_b[c] = joints[a], joints[b]
        cap_ra[c], cap_rb[c] = _RADIUS[finger, k] * w, _RADIUS[finger, k + 1] * w
        cap_x[c], cap_z[c] = frames[b][:, 0], frames[b][:, 2]
    cap_a[THENAR] = np.array([0.012, 0.016, 0.006]) * s
    cap_b[THENAR] = 0.5 * (joints[1] + joints[2])
    cap_ra[THENAR], cap_rb[THENAR] = 0.017 * w, 0.0135 * w
    # The arm runs on well past the elbow, so its end is (almost) never inside the crop.
    cap_a[FOREARM], cap_b[FOREARM] = np.array([0.0, -0.012, 0.0]) * s, np.array([0.0, -0.45, 0.006]) * s
    cap_ra[FOREARM], cap_rb[FOREARM] = 0.024 * w, 0.036 * w
    for c in (THENAR, FOREARM):  # cross-section axes: palmar (z) and its perpendicular (x)
        axis = (cap_b[c] - cap_a[c]) / np.linalg.norm(cap_b[c] - cap_a[c])
        z = np.array([0.0, 0.0, 1.0]) - axis[2] * axis
        cap_z[c] = z / np.linalg.norm(z)
        cap_x[c] = np.cross(axis, cap_z[c])

    # Palm outline (mid-surface; the renderer thickens it): wrist, thumb base, MCP row with side margins.
    r_side = _RADIUS[1:, 0] * w
    palm = np.stack([np.array([_WRIST_HALF_WIDTH * shape.width, 0.004, 0.002]) * s,
                     joints[1] + np.array([0.0, 0.0, -0.004]) * s,
                     joints[5] + np.array([r_side[0] * 0.6, 0.0, 0.0]),
                     joints[5], joints[9], joints[13], joints[17],
                     joints[17] + np.array([-r_side[3] * 0.8, -0.006 * s, 0.0]),
                     np.array([-_WRIST_HALF_WIDTH * shape.width, 0.004, 0.004]) * s])
    normal = np.array([0.0, 0.0, 1.0])

    # Surface points: rings around the capsules (in the capsule's own frame, so indices are anatomical)
    # and grids on the palm's two faces.
    ids, tp, palm_uv, side = _TEMPLATE
    t, ang = tp[:, 0], tp[:, 1]
    radius = cap_ra[ids] + t * (cap_rb[ids] - cap_ra[ids])
    axis_pts = cap_a[ids] + t[:, None] * (cap_b[ids] - cap_a[ids])
    caps = axis_pts + radius[:, None] * (np.cos(ang)[:, None] * cap_x[ids] + np.sin(ang)[:, None] * cap_z[ids])
    A, B = palm[0], palm[-1]                          # wrist radial / ulnar
    D, C = palm[2], palm[7]                           # index / little side of the MCP row
    u, v = palm_uv[:, :1], palm_uv[:, 1:]
    mid = (1 - v) * ((1 - u) * A + u * B) + v * ((1 - u) * D + u * C)
    half = PALM_HALF_THICKNESS * w
    faces = mid + side[:, None] * half * normal
    verts = np.concatenate([caps, faces])
    return HandGeometry(joints, cap_a, cap_b, cap_ra, cap_rb, -cap_z, palm, normal, half, verts)
