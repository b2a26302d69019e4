"""The models params may name and what their outputs are, without torch (the registry in zoo.py
checks it registers exactly these). A loss that reads more than one (N, C) logit per image
declares which outputs it needs (methods/catalog.py LOSS_NEEDS_OUTPUTS), so a method pairing a
loss with a model it cannot read is refused when params load, before any job."""

# name -> what forward returns: "logits" (N, C); "experts" (N, K, C) with K = EXPERTS[name];
# "glmc" (N, 2C + 2h): the two classifiers' logits, the projection and the prediction
MODEL_OUTPUTS = {
    "digits_cnn": "logits", "resnet20": "logits", "resnet32": "logits", "resnet44": "logits", "resnet56": "logits",
    "resnet10": "logits", "resnet50": "logits", "resnet34_cifar": "logits",
    "resnet32_experts": "experts",
    "resnet32_glmc": "glmc", "digits_cnn_glmc": "glmc",
}
EXPERTS = {"resnet32_experts": 3}  # experts of a multi-expert model, as built (models/multi_expert.py)
MODEL_NAMES = tuple(MODEL_OUTPUTS)
