"""
Training on scikit-learn's digits
=================================

A network of one hidden layer of 64 ReLU units, trained by plain SGD on the 1,347 training
images of scikit-learn's bundled digits (8 x 8 pixels), with the 450 others held out to
validate after every epoch.
"""

import matplotlib.pyplot as plt

import fastbp
from fastbp.datasets import load_digits

X_train, y_train, X_test, y_test = load_digits()
net = fastbp.Network([64, 64, 10], seed=0)
history = net.fit(X_train, y_train, epochs=30, batch_size=32, lr=0.1,
                  validation_data=(X_test, y_test))
print(net)
print("test:", net.evaluate(X_test, y_test))

# %%
# The learning curves: ``history.history`` holds one value per epoch.

epochs = [e + 1 for e in history.epoch]
figure, (loss, accuracy) = plt.subplots(1, 2, figsize=(9, 3.5))
for key, label in (("loss", "training"), ("val_loss", "validation")):
    loss.plot(epochs, history.history[key], label=label)
for key, label in (("accuracy", "training"), ("val_accuracy", "validation")):
    accuracy.plot(epochs, history.history[key], label=label)
loss.set(xlabel="epoch", ylabel="loss")
accuracy.set(xlabel="epoch", ylabel="accuracy")
loss.legend()
figure.tight_layout()
