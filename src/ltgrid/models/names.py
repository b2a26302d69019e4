"""The models params may name, without torch (the registry in zoo.py checks it registers exactly these)."""

MODEL_NAMES = ("digits_cnn", "resnet20", "resnet32", "resnet44", "resnet56", "resnet10", "resnet50", "resnet34_cifar", "resnet32_experts",
               "resnet32_glmc", "digits_cnn_glmc")
