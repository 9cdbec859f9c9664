"""Fashion-MNIST: 60,000 train and 10,000 test photos of clothes, 1x28x28, 10 classes, in MNIST's IDX files."""

from studykit.data.idx import IDXDataModule


class FashionMNISTDataModule(IDXDataModule):
    folder = "fashion_mnist"
    torchvision_class = "FashionMNIST"
    class_names = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]
