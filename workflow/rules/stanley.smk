# STANLEY section 5: the rings toy (Fig 1), FID curves of five samplers (Figs 4-5) and
# inpainting (Fig 6). Image curves train in segments (one job per eval_every iterations,
# each resuming the previous checkpoint) and every checkpoint is scored by its own job,
# so curves grow while training goes on and a cluster scores points in parallel.
# Job slices come from ebmlab.studies.stanley.jobs (torch-free); curve jobs are labelled
# <dataset>/<sampler>, e.g. --job mnist/langevin.
#
#   snakemake stanley --cores all --config profile=smoke          # every STANLEY target
#   snakemake reports/stanley_fid_curves.csv --cores all          # paper profile curves

if "stanley" in config:
    import re

    from ebmlab.studies.stanley import jobs as stn_jobs

    STN = config["stanley"]
    for stn_part in ("rings", "images"):
        # the rules need the run tables themselves (defaults apply to hand runs only)
        if stn_part not in STN:
            raise WorkflowError(f"{PARAMS}: stanley.{stn_part}: give the section, or null for none")
    STN_DIR = f"{RESULTS}/stanley"
    STN_TARGETS = []

    if STN["rings"] is not None:
        STN_RUNS = stn_jobs.rings_runs(STN)
        STN_CELLS = stn_jobs.grid_labels(STN)
        if not STN_RUNS and not STN_CELLS:
            raise WorkflowError(f"{PARAMS}: stanley.rings: name at least one run or grid cell")
        STN_RINGS_THREADS = STN["rings"].get("threads", 1)
        stn_ring_metrics = lambda labels: [f"{STN_DIR}/rings/{r}/metrics.json" for r in labels]

        wildcard_constraints:
            stn_ring="|".join(re.escape(r) for r in stn_jobs.rings_labels(STN)),

        rule stanley_rings_run:
            output:
                metrics=f"{STN_DIR}/rings/{{stn_ring}}/metrics.json",
                model=f"{STN_DIR}/rings/{{stn_ring}}/model.pt",
                record=f"{STN_DIR}/rings/{{stn_ring}}/rings.run.yaml",
            params:
                cfg=lambda wildcards: job_config("stanley", "stanley", "rings", wildcards.stn_ring),
                out=lambda wildcards, output: str(Path(output.metrics).parent),
            log:
                log_of("stanley", "rings_{stn_ring}"),
            threads: STN_RINGS_THREADS
            resources:
                # the toy runs on CPU (device: cpu in every profile): a GPU only when asked for
                **job_resources("stanley", gpu=STN["rings"].get("device", "cpu") != "cpu"),
            conda:
                ENV
            shell:
                "python -m ebmlab.studies.stanley rings --config {params.cfg:q} --job {wildcards.stn_ring} "
                "--out {params.out} > {log} 2>&1"

        if STN_CELLS:
            # the grid table decides which cells run with every seed at the full iterations
            checkpoint stanley_rings_grid:
                input:
                    stn_ring_metrics(STN_CELLS),
                output:
                    csv=f"{REPORTS}/stanley_rings_grid.csv",
                    best=f"{STN_DIR}/rings/best.json",
                    record=record_of("stanley/rings", "grid"),
                params:
                    runs=lambda wildcards, input: [str(Path(p).parent) for p in input],
                    profile=PROFILE,
                log:
                    log_of("stanley", "rings_grid"),
                localrule: True
                conda:
                    ENV
                shell:
                    "python -m ebmlab.studies.stanley rings-grid --runs {params.runs} --profile {params.profile} "
                    "--csv {output.csv} --best {output.best} --record {output.record} > {log} 2>&1"

        # the best cell of each grid sampler, read from the checkpoint's output (none without a grid)
        stn_best = lambda: list(json.loads(Path(checkpoints.stanley_rings_grid.get().output.best).read_text())
                                .values()) if STN_CELLS else []
        stn_first_seed = stn_jobs.seeds(STN["rings"])[0]

        rule stanley_rings_figure:
            input:
                # Fig 1's rows: the best cells at their first seed, then the runs of their own
                shown=lambda wildcards: stn_ring_metrics(
                    [stn_jobs.seed_label(c, stn_first_seed) for c in stn_best()] + STN_RUNS),
                seeded=lambda wildcards: stn_ring_metrics(
                    [s for c in stn_best() for s in stn_jobs.seeded_labels(STN, c)]),
            output:
                figure=figure(f"{FIGURES}/stanley/rings/stanley_rings.png", "stanley", "stanley_rings",
                              "STANLEY Fig 1", "rings"),
                distance=figure(f"{FIGURES}/stanley/rings/stanley_rings_distance.png", "stanley",
                                "stanley_rings_distance", "- (quantifies Fig 1)", "rings"),
                csv=f"{REPORTS}/stanley_rings_curves.csv",
                seeds=f"{REPORTS}/stanley_rings_distance.csv",
                claims=f"{REPORTS}/stanley_rings_claims.csv",
                metrics=f"{REPORTS}/metrics/stanley_rings.json",
                timing=f"{REPORTS}/stanley_rings_timing.csv",   # wall times apart from the results
                record=record_of("stanley/rings", "figure"),
            params:
                runs=lambda wildcards, input: [str(Path(p).parent) for p in input.shown],
                seeded=lambda wildcards, input: [str(Path(p).parent) for p in input.seeded],
                profile=PROFILE,
            log:
                log_of("stanley", "rings_figure"),
            localrule: True
            conda:
                ENV
            shell:
                "python -m ebmlab.studies.stanley rings-figure --runs {params.runs} --seeded {params.seeded} "
                "--profile {params.profile} --figure {output.figure} --distance-figure {output.distance} "
                "--csv {output.csv} --seeds-csv {output.seeds} --claims {output.claims} "
                "--metrics {output.metrics} --timing {output.timing} --record {output.record} > {log} 2>&1"

        STN_TARGETS += [rules.stanley_rings_figure.output.figure, rules.stanley_rings_figure.output.csv,
                        rules.stanley_rings_figure.output.claims]
        # the run record of every rings job (a missing one reruns its job); the best cells' seeded
        # runs are known once the grid checkpoint has run
        STN_TARGETS += [f"{STN_DIR}/rings/{r}/rings.run.yaml" for r in STN_RUNS + STN_CELLS]
        STN_TARGETS += [rules.stanley_rings_figure.output.record]
        if STN_CELLS:
            STN_TARGETS += [rules.stanley_rings_grid.output.record,
                            lambda wildcards: [f"{STN_DIR}/rings/{r}/rings.run.yaml" for c in stn_best()
                                               for r in [stn_jobs.seed_label(c, stn_first_seed),
                                                         *stn_jobs.seeded_labels(STN, c)]]]

    if STN["images"] is not None:
        IMG = STN["images"]
        STN_DATASETS = stn_jobs.dataset_labels(STN)
        if not STN_DATASETS or not IMG.get("samplers"):
            raise WorkflowError(f"{PARAMS}: stanley.images: name its datasets and samplers")
        STN_IMG_THREADS = IMG.get("threads", 1)
        # report labels: the paper's FID-curve figure of each data set (others: its layout)
        STN_FID_PAPER = {"flowers102": "STANLEY Fig 4 (left)", "cifar10": "STANLEY Fig 4 (right)",
                         "celeba": "STANLEY Fig 5"}
        STN_CLASSIFIER = {ds: [f"{STN_DIR}/classifier/{ds}.pt"] if "classifier" in stn_jobs.metrics_of(IMG, ds)
                          else [] for ds in STN_DATASETS}
        STN_POINTS = [f"{STN_DIR}/{ds}/{s}/fid/{it}.json"
                      for ds in STN_DATASETS for s in stn_jobs.samplers_of(IMG, ds)
                      for it in stn_jobs.points(IMG, ds)]

        # final checkpoint of a curve; one curve's job label
        stn_final = lambda ds, s: f"{STN_DIR}/{ds}/{s}/ckpt/{stn_jobs.points(IMG, ds)[-1]}.pt"
        stn_curve = lambda wildcards: stn_jobs.curve_label(wildcards.stn_ds, wildcards.stn_s)

        # the grid's curves (cells of stanley.images.grid on grid_dataset) train and score as any curve
        STN_GRID = stn_jobs.grid_curves(IMG)
        STN_GRID_POINTS = [f"{STN_DIR}/{ds}/{c}/fid/{it}.json" for ds, c in STN_GRID
                           for it in stn_jobs.points(IMG, ds, c)]

        wildcard_constraints:
            stn_ds="|".join(STN_DATASETS),
            stn_s="|".join(re.escape(s) for s in [*IMG["samplers"], *(c for _, c in STN_GRID)]),
            stn_it=r"\d+",

        rule stanley_classifier:
            output:
                weights=f"{STN_DIR}/classifier/{{stn_ds}}.pt",
                record=f"{STN_DIR}/classifier/{{stn_ds}}.run.yaml",
            params:
                cfg=lambda wildcards: job_config("stanley", "stanley", "classifier", wildcards.stn_ds),
            log:
                log_of("stanley", "classifier_{stn_ds}"),
            threads: STN_IMG_THREADS
            resources:
                **job_resources("stanley", gpu=False),
            conda:
                ENV
            shell:
                "python -m ebmlab.studies.stanley classifier --config {params.cfg:q} --job {wildcards.stn_ds} "
                "--out {output.weights} > {log} 2>&1"

        rule stanley_reference:
            input:
                classifier=lambda wildcards: STN_CLASSIFIER[wildcards.stn_ds],
            output:
                summary=f"{STN_DIR}/ref/{{stn_ds}}.json",
                record=f"{STN_DIR}/ref/{{stn_ds}}.run.yaml",
            params:
                cfg=lambda wildcards: job_config("stanley", "stanley", "reference", wildcards.stn_ds),
                ref=lambda wildcards, output: str(Path(output[0]).parent),
                classifier=lambda wildcards, input: f"--classifier {input.classifier}" if input.classifier else "",
            log:
                log_of("stanley", "ref_{stn_ds}"),
            threads: STN_IMG_THREADS
            resources:
                **job_resources("stanley", gpu=False),
            conda:
                ENV
            shell:
                "python -m ebmlab.studies.stanley reference --config {params.cfg:q} --job {wildcards.stn_ds} "
                "--ref-dir {params.ref} {params.classifier} --record {output.record} > {log} 2>&1"

        rule stanley_segment:
            input:
                previous=lambda wildcards: [] if int(wildcards.stn_it) <= stn_jobs.eval_every(IMG, wildcards.stn_ds)
                else [f"{STN_DIR}/{wildcards.stn_ds}/{wildcards.stn_s}/ckpt/"
                      f"{int(wildcards.stn_it) - stn_jobs.eval_every(IMG, wildcards.stn_ds)}.pt"],
            output:
                ckpt=f"{STN_DIR}/{{stn_ds}}/{{stn_s}}/ckpt/{{stn_it}}.pt",
                record=f"{STN_DIR}/{{stn_ds}}/{{stn_s}}/ckpt/{{stn_it}}.run.yaml",
            params:
                cfg=lambda wildcards: job_config("stanley", "stanley", "segment", stn_curve(wildcards)),
                job=stn_curve,
                previous=lambda wildcards, input: f"--previous {input.previous}" if input.previous else "",
            log:
                log_of("stanley", "{stn_ds}/{stn_s}/segment_{stn_it}"),
            threads: STN_IMG_THREADS
            resources:
                **job_resources("stanley", gpu=True),
            conda:
                ENV
            shell:
                "python -m ebmlab.studies.stanley segment --config {params.cfg:q} --job {params.job} "
                "--until {wildcards.stn_it} {params.previous} --out {output.ckpt} --record {output.record} "
                "> {log} 2>&1"

        rule stanley_fid:
            input:
                checkpoint=rules.stanley_segment.output.ckpt,
                ref=rules.stanley_reference.output.summary,
                classifier=lambda wildcards: STN_CLASSIFIER[wildcards.stn_ds],
            output:
                point=f"{STN_DIR}/{{stn_ds}}/{{stn_s}}/fid/{{stn_it}}.json",
                samples=f"{STN_DIR}/{{stn_ds}}/{{stn_s}}/samples/{{stn_it}}.png",
                record=f"{STN_DIR}/{{stn_ds}}/{{stn_s}}/fid/{{stn_it}}.run.yaml",
            params:
                cfg=lambda wildcards: job_config("stanley", "stanley", "fid", stn_curve(wildcards)),
                job=stn_curve,
                ref=lambda wildcards, input: str(Path(input.ref).parent),
                classifier=lambda wildcards, input: f"--classifier {input.classifier}" if input.classifier else "",
            log:
                log_of("stanley", "{stn_ds}/{stn_s}/fid_{stn_it}"),
            threads: STN_IMG_THREADS
            resources:
                **job_resources("stanley", gpu=True),
            conda:
                ENV
            shell:
                "python -m ebmlab.studies.stanley fid --config {params.cfg:q} --job {params.job} "
                "--checkpoint {input.checkpoint} --ref-dir {params.ref} {params.classifier} --out {output.point} "
                "--samples {output.samples} --record {output.record} > {log} 2>&1"

        rule stanley_curves:
            input:
                STN_POINTS,
            output:
                csv=f"{REPORTS}/stanley_fid_curves.csv",
                metrics=f"{REPORTS}/metrics/stanley_fid_curves.json",
                timing=f"{REPORTS}/stanley_timing.csv",   # wall times apart from the results
                figures=[figure(f"{FIGURES}/stanley/images/stanley_fid_{ds}.png", "stanley", f"stanley_fid_{ds}",
                                STN_FID_PAPER.get(ds, "- (layout of Figs 4-5)"), "images") for ds in STN_DATASETS],
                record=record_of("stanley", "curves"),
            params:
                out=lambda wildcards, output: str(Path(output.figures[0]).parent),
                profile=PROFILE,
            log:
                log_of("stanley", "curves"),
            localrule: True
            conda:
                ENV
            shell:
                "python -m ebmlab.studies.stanley curves --points {input} --profile {params.profile} --csv {output.csv} "
                "--metrics {output.metrics} --timing {output.timing} --out-dir {params.out} --record {output.record} > {log} 2>&1"

        STN_TARGETS += [rules.stanley_curves.output.csv, *rules.stanley_curves.output.figures]
        # the run record of every images job (a missing one reruns its job): classifiers, references,
        # each curve's segments and scored points (the grid's too), the report jobs below
        stn_curve_records = lambda ds, curve, kinds=("ckpt", "fid"): [
            f"{STN_DIR}/{ds}/{curve}/{kind}/{it}.run.yaml" for it in stn_jobs.points(IMG, ds, curve) for kind in kinds]
        STN_TARGETS += [record_beside(p) for ds in STN_DATASETS for p in STN_CLASSIFIER[ds]]
        STN_TARGETS += [f"{STN_DIR}/ref/{ds}.run.yaml" for ds in STN_DATASETS]
        STN_TARGETS += [r for ds in STN_DATASETS for c in stn_jobs.samplers_of(IMG, ds) for r in stn_curve_records(ds, c)]
        STN_TARGETS += [r for ds, c in STN_GRID for r in stn_curve_records(ds, c)]
        STN_TARGETS += [rules.stanley_curves.output.record]

        # Figs 2 (Flowers) and 3 (CIFAR-10): every curve's final samples, as its last scoring job drew them
        STN_SAMPLES_PAPER = {"flowers102": "STANLEY Fig 2", "cifar10": "STANLEY Fig 3"}
        STN_SAMPLES = {f"{ds}/{s}": f"{STN_DIR}/{ds}/{s}/samples/{stn_jobs.points(IMG, ds)[-1]}.png"
                       for ds in STN_DATASETS for s in stn_jobs.samplers_of(IMG, ds)}

        rule stanley_samples:
            input:
                list(STN_SAMPLES.values()),
            output:
                figures=[figure(f"{FIGURES}/stanley/images/stanley_samples_{ds}.png", "stanley", "stanley_samples",
                                STN_SAMPLES_PAPER.get(ds, "- (layout of Figs 2-3)"), "images") for ds in STN_DATASETS],
                record=record_of("stanley", "samples"),
            params:
                samples=" ".join(f"{k}={v}" for k, v in STN_SAMPLES.items()),
                out=lambda wildcards, output: str(Path(output.figures[0]).parent),
                profile=PROFILE,
            log:
                log_of("stanley", "samples"),
            localrule: True
            conda:
                ENV
            shell:
                "python -m ebmlab.studies.stanley samples-figure --samples {params.samples} --profile {params.profile} "
                "--out-dir {params.out} --record {output.record} > {log} 2>&1"

        STN_TARGETS += [*rules.stanley_samples.output.figures, rules.stanley_samples.output.record]

        if STN_GRID:
            STN_GRID_DS = IMG["grid_dataset"]

            rule stanley_images_grid:
                input:
                    STN_GRID_POINTS,
                output:
                    csv=f"{REPORTS}/stanley_{STN_GRID_DS}_grid.csv",
                    curves=f"{REPORTS}/stanley_{STN_GRID_DS}_grid_curves.csv",
                    timing=f"{REPORTS}/stanley_{STN_GRID_DS}_grid_timing.csv",
                    figure=figure(f"{FIGURES}/stanley/images/stanley_grid_{STN_GRID_DS}.png", "stanley",
                                  "stanley_grid", "- (the paper's grid search, section 5)", "images"),
                    record=record_of("stanley", "images_grid"),
                params:
                    out=lambda wildcards, output: str(Path(output.figure).parent),
                    profile=PROFILE,
                log:
                    log_of("stanley", "images_grid"),
                localrule: True
                conda:
                    ENV
                shell:
                    "python -m ebmlab.studies.stanley grid-curves --points {input} --profile {params.profile} "
                    "--csv {output.csv} --curves-csv {output.curves} --timing {output.timing} --out-dir {params.out} "
                    "--record {output.record} > {log} 2>&1"

            STN_TARGETS += [rules.stanley_images_grid.output.csv, rules.stanley_images_grid.output.figure,
                            rules.stanley_images_grid.output.record]

        if IMG.get("inpainting", {}) is not None:
            # the job's own slice names the data set and curves (the study's defaults included)
            STN_IP = json.loads(job_config("stanley", "stanley", "inpaint"))
            STN_IP_CKPTS = {s: stn_final(STN_IP["dataset"], s) for s in STN_IP["samplers"]}

            rule stanley_inpainting:
                input:
                    list(STN_IP_CKPTS.values()),
                output:
                    figure=figure(f"{FIGURES}/stanley/images/stanley_inpainting.png", "stanley",
                                  "stanley_inpainting", "STANLEY Fig 6", "images"),
                    csv=f"{REPORTS}/stanley_inpainting.csv",
                    record=record_of("stanley", "inpainting"),
                params:
                    cfg=job_config("stanley", "stanley", "inpaint"),
                    ckpts=" ".join(f"--checkpoint {s}={p}" for s, p in STN_IP_CKPTS.items()),
                    profile=PROFILE,
                log:
                    log_of("stanley", "inpainting"),
                threads: STN_IMG_THREADS
                resources:
                    **job_resources("stanley", gpu=True),
                conda:
                    ENV
                shell:
                    "python -m ebmlab.studies.stanley inpaint --config {params.cfg:q} {params.ckpts} "
                    "--figure {output.figure} --csv {output.csv} --profile {params.profile} "
                    "--record {output.record} > {log} 2>&1"

            STN_TARGETS += [rules.stanley_inpainting.output.figure, rules.stanley_inpainting.output.record]
            STN_TARGETS += [r for c in STN_IP["samplers"] for r in stn_curve_records(STN_IP["dataset"], c, ("ckpt",))]

    rule stanley:
        input:
            STN_TARGETS,
        localrule: True

    ALL_TARGETS += STN_TARGETS
