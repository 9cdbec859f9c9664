"""MNIST: 60,000 train and 10,000 test handwritten digits, 1x28x28, from the official IDX files."""

from studykit.data.idx import IDXDataModule


class MNISTDataModule(IDXDataModule):
    folder = "mnist"
    torchvision_class = "MNIST"
    class_names = [str(digit) for digit in range(10)]
