"""Tiny archives with each published dataset's real layout (names, nesting, list files, pickles).

Each builder returns ``(archives, expected)``: the archive bytes by official
file name, and the layout the converter must produce, as
``{part: {class: number_of_images}}``.
"""

from __future__ import annotations

import io
import pickle
import tarfile
import zipfile

import numpy as np
from PIL import Image


def jpeg(seed: int, size: int = 12) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def tar_bytes(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        dirs = set()
        for name in members:
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        for d in sorted(dirs):  # real archives list their folders too
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tf.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def cifar100():
    """cifar-100-python/{meta,train,test}: pickled dicts as the CIFAR page documents them."""
    fine = ["apple", "aquarium_fish", "baby"]
    rng = np.random.default_rng(1)

    def batch(n_per_class, label):
        labels = [c for c in range(len(fine)) for _ in range(n_per_class)]
        return {
            "filenames": [f"{fine[c]}_s_{i:06d}.png" for i, c in enumerate(labels)],
            "batch_label": label,
            "fine_labels": labels,
            "coarse_labels": [0] * len(labels),
            "data": rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8),
        }

    meta = {"fine_label_names": fine, "coarse_label_names": ["fruit_and_vegetables"]}
    members = {
        "cifar-100-python/file.txt~": b"",
        "cifar-100-python/meta": pickle.dumps(meta, protocol=2),
        "cifar-100-python/train": pickle.dumps(batch(4, "training batch 1 of 1"), protocol=2),
        "cifar-100-python/test": pickle.dumps(batch(2, "testing batch 1 of 1"), protocol=2),
    }
    expected = {"train": {c: 4 for c in fine}, "test": {c: 2 for c in fine}}
    return {"cifar-100-python.tar.gz": tar_bytes(members)}, expected


def stanford_dogs():
    """images.tar (Images/<wnid>-<breed>/<wnid>_<n>.jpg) and lists.tar (train_list.mat, test_list.mat)."""
    import scipy.io

    breeds = ["n02085620-Chihuahua", "n02085782-Japanese_spaniel", "n02113978-Mexican_hairless"]
    images, train, test = {}, [], []
    for b, folder in enumerate(breeds):
        wnid = folder.split("-")[0]
        for i in range(5):
            rel = f"{folder}/{wnid}_{1000 + i}.jpg"
            images[f"Images/{rel}"] = jpeg(100 * b + i)
            (train if i < 3 else test).append((rel, b + 1))

    def mat(rows):
        file_list = np.empty((len(rows), 1), dtype=object)
        annotation_list = np.empty((len(rows), 1), dtype=object)
        for i, (rel, _) in enumerate(rows):
            file_list[i, 0] = rel
            annotation_list[i, 0] = rel.removesuffix(".jpg")
        buf = io.BytesIO()
        scipy.io.savemat(buf, {"file_list": file_list, "annotation_list": annotation_list,
                               "labels": np.array([[lab] for _, lab in rows], dtype=np.uint8)})
        return buf.getvalue()

    lists = {"file_list.mat": mat(train + test), "train_list.mat": mat(train), "test_list.mat": mat(test)}
    names = ["Chihuahua", "Japanese_spaniel", "Mexican_hairless"]
    expected = {"train": {n: 3 for n in names}, "test": {n: 2 for n in names}}
    return {"images.tar": tar_bytes(images, "w"), "lists.tar": tar_bytes(lists, "w")}, expected


def imagenette(size: str = "160"):
    """imagenette2-<size>/{train,val}/<wnid>/*.JPEG plus noisy_imagenette.csv."""
    top = "imagenette2" if size == "full" else f"imagenette2-{size}"
    wnids = {"n01440764": "tench", "n02102040": "English springer", "n03888257": "parachute"}
    members = {f"{top}/noisy_imagenette.csv": b"path,noisy_labels_0,is_valid\n"}
    for k, wnid in enumerate(wnids):
        for i in range(4):
            members[f"{top}/train/{wnid}/{wnid}_{i}.JPEG"] = jpeg(10 * k + i, 16)
        for i in range(2):
            members[f"{top}/val/{wnid}/ILSVRC2012_val_{k}{i:07d}.JPEG"] = jpeg(500 + 10 * k + i, 16)
    expected = {"train": {n: 4 for n in wnids.values()}, "test": {n: 2 for n in wnids.values()}}
    filename = "imagenette2.tgz" if size == "full" else f"imagenette2-{size}.tgz"
    return {filename: tar_bytes(members)}, expected


def food101():
    """food-101/images/<class>/<id>.jpg with the official meta/train.txt and meta/test.txt."""
    classes = ["apple_pie", "baby_back_ribs", "baklava"]
    members, train, test = {}, [], []
    for c, cls in enumerate(classes):
        for i in range(5):
            ident = 100000 + 37 * c + i
            members[f"food-101/images/{cls}/{ident}.jpg"] = jpeg(1000 + 10 * c + i)
            (train if i < 3 else test).append(f"{cls}/{ident}")
    members["food-101/meta/classes.txt"] = "\n".join(classes).encode() + b"\n"
    members["food-101/meta/labels.txt"] = b"Apple pie\nBaby back ribs\nBaklava\n"
    members["food-101/meta/train.txt"] = "\n".join(train).encode() + b"\n"
    members["food-101/meta/test.txt"] = "\n".join(test).encode() + b"\n"
    members["food-101/README.txt"] = b"Food-101\n"
    expected = {"train": {c: 3 for c in classes}, "test": {c: 2 for c in classes}}
    return {"food-101.tar.gz": tar_bytes(members)}, expected


def plant_village():
    """Plant_leave_diseases_dataset_without_augmentation/<Crop___disease>/image (n).JPG (Mendeley copy)."""
    classes = ["Apple___Apple_scab", "Corn___Cercospora_leaf_spot Gray_leaf_spot", "Pepper,_bell___healthy",
               "Background_without_leaves"]
    members = {}
    for c, cls in enumerate(classes):
        for i in range(4):
            members[f"Plant_leave_diseases_dataset_without_augmentation/{cls}/image ({i + 1}).JPG"] = jpeg(2000 + 10 * c + i)
    expected = {"train": {c: 4 for c in classes[:3]}}
    return {"Plant_leaf_diseases_dataset_without_augmentation.zip": zip_bytes(members)}, expected


def asl_alphabet():
    """asl_alphabet_train/asl_alphabet_train/<class>/<class><n>.jpg and asl_alphabet_test/asl_alphabet_test/<class>_test.jpg."""
    classes = ["A", "B", "del", "nothing", "space"]
    members = {}
    for c, cls in enumerate(classes):
        for i in range(4):
            members[f"asl_alphabet_train/asl_alphabet_train/{cls}/{cls}{i + 1}.jpg"] = jpeg(3000 + 10 * c + i)
        if cls != "del":  # the real test folder has no del_test.jpg
            members[f"asl_alphabet_test/asl_alphabet_test/{cls}_test.jpg"] = jpeg(4000 + c)
    expected = {"train": {c: 4 for c in classes}, "test": {c: 1 for c in classes if c != "del"}}
    return {"asl-alphabet.zip": zip_bytes(members)}, expected


BUILDERS = {
    "cifar100": cifar100,
    "stanford_dogs": stanford_dogs,
    "imagenette": imagenette,
    "food101": food101,
    "plant_village": plant_village,
    "asl_alphabet": asl_alphabet,
}
