"""Thesis Table 4.2 and Figs 4.12-4.16: JEM trained with SGLD, pSGLD and MALA (section 4.2.2).

One run = one sampler: a Wide-ResNet classifier-energy trained with JEM's recipe
(:mod:`ebmlab.train.jem`), its held-out accuracy curve, and the FID of its replay-buffer
samples. Every run is its own job; each step takes explicit arguments::

    python -m ebmlab.studies.jem classifier --params params/smoke.yaml --section jem --out C.pt
    python -m ebmlab.studies.jem reference  --params params/smoke.yaml --section jem --ref-dir R [--classifier C.pt]
    python -m ebmlab.studies.jem train      --params params/smoke.yaml --section jem --job sgld \\
        --out results/smoke/jem/sgld --ref-dir R [--classifier C.pt]
    python -m ebmlab.studies.jem table   --runs results/smoke/jem/* --profile smoke --csv reports/smoke/table4_2.csv
    python -m ebmlab.studies.jem figures --runs results/smoke/jem/* --out-dir reports/smoke/figures/jem --prefix jem
    python -m ebmlab.studies.jem bench   --params params/paper.yaml --section jem --csv reports/jem_epoch_time.csv

The params file has two sections of this study (both :class:`config.JEMStudy`): ``jem``
(CIFAR-10, the paper profile) and ``jem_mnist`` (the labelled MNIST substitute of the fast profile).

Accuracy: ``eval.n_valid`` training images are held out (JEM: 5000, shuffled with seed
1234); every ``eval.every`` epochs the validation and test accuracies are logged (Fig 4.12).
Held-out images get N(0, ``eval.noise``^2) noise, as JEM's evaluation transform adds its
training noise (0.03) to test images; the final test accuracy is reported both ways.

FID: ``fid.n_samples`` states of the final replay buffer (JEM's persistent samples),
scored against the reference statistics of ``fid.reference_split``. Metric kinds follow
issue 3's protocol: ``inception`` (the FID the thesis reports), ``classifier`` (Frechet
distance in a digit classifier's features: a labelled substitute for digit data) and
``inception_standin`` (random-weight Inception: a code-path check). Only real-Inception
FIDs and accuracies on real CIFAR-10 go into the columns compared with the thesis.
"""
