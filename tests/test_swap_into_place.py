"""core.paths.swap_into_place: the one folder swap behind run folders (core/runstaging.py) and pulled models (core/zoo.py)."""
from culturelens.core.paths import swap_into_place


def test_a_new_folder_moves_into_place(tmp_path):
    staged, final = tmp_path / ".a.tmp", tmp_path / "a"
    staged.mkdir()
    (staged / "x.txt").write_text("new")
    assert swap_into_place(staged, final, tmp_path / ".a.old") == final
    assert (final / "x.txt").read_text() == "new" and not staged.exists() and not (tmp_path / ".a.old").exists()


def test_an_old_folder_is_replaced_whole_and_removed(tmp_path):
    staged, final, old = tmp_path / ".a.tmp", tmp_path / "a", tmp_path / ".a.old"
    final.mkdir()
    (final / "stale.txt").write_text("old")
    staged.mkdir()
    (staged / "x.txt").write_text("new")
    swap_into_place(staged, final, old)
    assert sorted(p.name for p in final.iterdir()) == ["x.txt"] and not old.exists() and not staged.exists()
