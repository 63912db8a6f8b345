"""container_view.py's pieces that run without a GPU: an image's root filesystem from our OCI
archive, and bad input."""

from __future__ import annotations

import json

from gpuconform.gpuhost import container_view
from gpuconform.sim.oci import ImageSpec, write_archive


def test_the_rootfs_is_the_images_layer(tmp_path):
    spec = ImageSpec(
        ref="example/img:1",
        contents={"/etc/ld.so.conf": b"include /etc/ld.so.conf.d/*.conf\n"},
        symlinks={"/bin/sh": "/busybox/sh"},
        dirs=["/etc/ld.so.conf.d"],
    )
    archive = tmp_path / "img.oci.tar"
    write_archive(spec, archive)
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    container_view.extract_rootfs(archive, rootfs)
    assert (rootfs / "etc/ld.so.conf").read_bytes() == spec.contents["/etc/ld.so.conf"]
    assert (rootfs / "etc/ld.so.conf.d").is_dir()
    assert (rootfs / "bin/sh").readlink().as_posix() == "/busybox/sh"
    assert not (tmp_path / "layer.tar").exists()


def test_an_image_not_carried_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "images.json").write_text(json.dumps({"other/img:1": "x.oci.tar"}))
    assert container_view.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and container_view.PLUGIN_IMAGE in err
    assert container_view.main([]) == 2
