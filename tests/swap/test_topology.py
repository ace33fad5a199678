import numpy as np

from swap.topology import boundary_loops, face_topology, signed_areas


def test_mesh_has_852_triangles_and_no_flipped_uv_triangle():
    topo = face_topology()
    assert topo.triangles.shape == (852, 3)
    areas = signed_areas(topo.uv * np.array([1, -1]), topo.triangles)
    assert (areas > 0).all()


def test_mesh_is_a_disk_with_holes_at_both_eyes_and_the_mouth():
    topo = face_topology()
    loops = boundary_loops(topo.triangles)
    assert len(loops) == 4
    assert {len(loop) for loop in loops[1:]} == {len(topo.left_eye_loop), len(topo.mouth_loop)}


def test_uv_layout_is_mirror_symmetric_and_inside_the_unit_square():
    topo = face_topology()
    assert topo.uv.min() >= 0 and topo.uv.max() <= 1
    np.testing.assert_allclose(topo.uv[:, 0], 1 - topo.uv[topo.mirror, 0], atol=0.01)
    np.testing.assert_allclose(topo.uv[:, 1], topo.uv[topo.mirror, 1], atol=0.01)
    assert (topo.mirror[topo.mirror] == np.arange(len(topo.mirror))).all()


def test_subjects_left_eye_is_on_the_right_of_the_uv_image_like_in_a_frontal_photo():
    topo = face_topology()
    assert topo.uv[263, 0] > 0.5 > topo.uv[33, 0]
    assert topo.uv[10, 1] < topo.uv[1, 1] < topo.uv[152, 1]  # forehead above nose above chin
