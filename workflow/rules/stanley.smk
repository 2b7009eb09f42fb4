# STANLEY section 5: the rings toy (Fig 1), FID curves of five samplers (Figs 4-5) and
# inpainting (Fig 6). Image curves train in segments (one job per eval_every iterations,
# each resuming the previous checkpoint) and every checkpoint is scored by its own job,
# so curves grow while training goes on and a cluster scores points in parallel.
#
#   snakemake stanley --cores all --config profile=smoke          # every STANLEY target
#   snakemake reports/stanley_fid_curves.csv --cores all          # paper profile curves

if "stanley" in config:
    from snakemake.exceptions import WorkflowError

    from ebmlab.config import from_dict, to_dict

    from ebmlab.errors import ConfigError
    from ebmlab.stanley import StanleyStudy

    try:
        STN = from_dict(StanleyStudy, config["stanley"], "stanley")
    except ConfigError as err:
        raise WorkflowError(f"{PARAMS}: {err}")
    STN_RES = study_resources("stanley")
    STN_GPU = {"gpus": STN_RES["gpus"], "slurm_extra": "--gres=gpu:1"} if STN_RES["gpus"] else {}
    STN_DIR = f"{RESULTS}/stanley"
    STN_TARGETS = []

    if STN.rings is not None:
        STN_RINGS = list(STN.rings.samplers)

        wildcard_constraints:
            stn_ring="|".join(STN_RINGS),

        rule stanley_rings_run:
            output:
                metrics=f"{STN_DIR}/rings/{{stn_ring}}/metrics.json",
                model=f"{STN_DIR}/rings/{{stn_ring}}/model.pt",
            params:
                cfg=lambda wildcards: as_json(to_dict(STN.rings.run(wildcards.stn_ring))),
                out=lambda wildcards, output: str(Path(output.metrics).parent),
            log:
                f"{LOGS}/stanley/rings_{{stn_ring}}.log",
            threads: STN.rings.threads
            resources:
                mem_mb=STN_RES["mem_mb"],
                runtime=STN_RES["runtime"],
            conda:
                ENV
            shell:
                "python -m ebmlab.stanley rings --config {params.cfg:q} --out {params.out} > {log} 2>&1"

        rule stanley_rings_figure:
            input:
                expand(f"{STN_DIR}/rings/{{r}}/metrics.json", r=STN_RINGS),
            output:
                figure=f"{FIGURES}/stanley_rings.png",
                distance=f"{FIGURES}/stanley_rings_distance.png",
                csv=f"{REPORTS}/stanley_rings_distance.csv",
                metrics=f"{REPORTS}/metrics/stanley_rings.json",
            params:
                runs=lambda wildcards, input: [str(Path(p).parent) for p in input],
                profile=PROFILE,
            log:
                f"{LOGS}/stanley/rings_figure.log",
            conda:
                ENV
            shell:
                "python -m ebmlab.stanley rings-figure --runs {params.runs} --profile {params.profile} "
                "--figure {output.figure} --distance-figure {output.distance} --csv {output.csv} "
                "--metrics {output.metrics} > {log} 2>&1"

        STN_TARGETS += [rules.stanley_rings_figure.output.figure, rules.stanley_rings_figure.output.csv]

    if STN.images is not None:
        IMG = STN.images
        STN_CLASSIFIER = {ds: [f"{STN_DIR}/classifier/{ds}.pt"] if "classifier" in e.metrics else []
                          for ds, e in IMG.datasets.items()}
        STN_POINTS = [f"{STN_DIR}/{ds}/{s}/fid/{it}.json"
                      for ds, s in IMG.curves() for it in IMG.datasets[ds].points()]

        # final checkpoint of a curve; one curve's job slice
        stn_final = lambda ds, s: f"{STN_DIR}/{ds}/{s}/ckpt/{IMG.datasets[ds].iterations}.pt"
        stn_job = lambda wildcards: as_json(to_dict(IMG.job(wildcards.stn_ds, wildcards.stn_s)))

        wildcard_constraints:
            stn_ds="|".join(IMG.datasets),
            stn_s="|".join(IMG.samplers),
            stn_it=r"\d+",

        rule stanley_classifier:
            output:
                f"{STN_DIR}/classifier/{{stn_ds}}.pt",
            params:
                cfg=lambda wildcards: as_json({"data": to_dict(IMG.datasets[wildcards.stn_ds].data),
                                               "classifier": to_dict(IMG.fid.classifier), "seed": IMG.seed,
                                               "device": IMG.device, "threads": IMG.threads}),
            log:
                f"{LOGS}/stanley/classifier_{{stn_ds}}.log",
            threads: IMG.threads
            resources:
                mem_mb=STN_RES["mem_mb"],
                runtime=STN_RES["runtime"],
                **STN_GPU,
            conda:
                ENV
            shell:
                "python -m ebmlab.metrics.classifier train --config {params.cfg:q} --out {output} > {log} 2>&1"

        rule stanley_reference:
            input:
                classifier=lambda wildcards: STN_CLASSIFIER[wildcards.stn_ds],
            output:
                f"{STN_DIR}/ref/{{stn_ds}}.json",
            params:
                cfg=lambda wildcards: as_json(to_dict(IMG.job(wildcards.stn_ds,
                                                              IMG.samplers_of(wildcards.stn_ds)[0]))),
                ref=lambda wildcards, output: str(Path(output[0]).parent),
                classifier=lambda wildcards, input: f"--classifier {input.classifier}" if input.classifier else "",
            log:
                f"{LOGS}/stanley/ref_{{stn_ds}}.log",
            threads: IMG.threads
            resources:
                mem_mb=STN_RES["mem_mb"],
                runtime=STN_RES["runtime"],
                **STN_GPU,
            conda:
                ENV
            shell:
                "python -m ebmlab.stanley reference --config {params.cfg:q} --ref-dir {params.ref} "
                "{params.classifier} > {log} 2>&1"

        rule stanley_segment:
            input:
                previous=lambda wildcards: [] if int(wildcards.stn_it) <= IMG.datasets[wildcards.stn_ds].eval_every
                else [f"{STN_DIR}/{wildcards.stn_ds}/{wildcards.stn_s}/ckpt/"
                      f"{int(wildcards.stn_it) - IMG.datasets[wildcards.stn_ds].eval_every}.pt"],
            output:
                f"{STN_DIR}/{{stn_ds}}/{{stn_s}}/ckpt/{{stn_it}}.pt",
            params:
                cfg=stn_job,
                previous=lambda wildcards, input: f"--previous {input.previous}" if input.previous else "",
            log:
                f"{LOGS}/stanley/{{stn_ds}}/{{stn_s}}/segment_{{stn_it}}.log",
            threads: IMG.threads
            resources:
                mem_mb=STN_RES["mem_mb"],
                runtime=STN_RES["runtime"],
                **STN_GPU,
            conda:
                ENV
            shell:
                "python -m ebmlab.stanley segment --config {params.cfg:q} --until {wildcards.stn_it} "
                "{params.previous} --out {output} > {log} 2>&1"

        rule stanley_fid:
            input:
                checkpoint=rules.stanley_segment.output[0],
                ref=rules.stanley_reference.output[0],
                classifier=lambda wildcards: STN_CLASSIFIER[wildcards.stn_ds],
            output:
                point=f"{STN_DIR}/{{stn_ds}}/{{stn_s}}/fid/{{stn_it}}.json",
                samples=f"{STN_DIR}/{{stn_ds}}/{{stn_s}}/samples/{{stn_it}}.png",
            params:
                cfg=stn_job,
                ref=lambda wildcards, input: str(Path(input.ref).parent),
                classifier=lambda wildcards, input: f"--classifier {input.classifier}" if input.classifier else "",
            log:
                f"{LOGS}/stanley/{{stn_ds}}/{{stn_s}}/fid_{{stn_it}}.log",
            threads: IMG.threads
            resources:
                mem_mb=STN_RES["mem_mb"],
                runtime=STN_RES["runtime"],
                **STN_GPU,
            conda:
                ENV
            shell:
                "python -m ebmlab.stanley fid --config {params.cfg:q} --checkpoint {input.checkpoint} "
                "--ref-dir {params.ref} {params.classifier} --out {output.point} --samples {output.samples} "
                "> {log} 2>&1"

        rule stanley_curves:
            input:
                STN_POINTS,
            output:
                csv=f"{REPORTS}/stanley_fid_curves.csv",
                metrics=f"{REPORTS}/metrics/stanley_fid_curves.json",
                figures=[f"{FIGURES}/stanley_fid_{ds}.png" for ds in IMG.datasets],
            params:
                profile=PROFILE,
                out=lambda wildcards, output: str(Path(output.csv).parent / "figures"),
            log:
                f"{LOGS}/stanley/curves.log",
            conda:
                ENV
            shell:
                "python -m ebmlab.stanley curves --points {input} --profile {params.profile} --csv {output.csv} "
                "--metrics {output.metrics} --out-dir {params.out} > {log} 2>&1"

        STN_TARGETS += [rules.stanley_curves.output.csv, *rules.stanley_curves.output.figures]

        if IMG.inpainting is not None:
            STN_IP = IMG.inpainting

            rule stanley_inpainting:
                input:
                    [stn_final(STN_IP.dataset, s) for s in STN_IP.samplers],
                output:
                    figure=f"{FIGURES}/stanley_inpainting.png",
                    csv=f"{REPORTS}/stanley_inpainting.csv",
                params:
                    cfg=as_json(to_dict(IMG.inpaint_job())),
                    ckpts=" ".join(f"--checkpoint {s}={stn_final(STN_IP.dataset, s)}" for s in STN_IP.samplers),
                    profile=PROFILE,
                log:
                    f"{LOGS}/stanley/inpainting.log",
                threads: IMG.threads
                resources:
                    mem_mb=STN_RES["mem_mb"],
                    runtime=STN_RES["runtime"],
                    **STN_GPU,
                conda:
                    ENV
                shell:
                    "python -m ebmlab.stanley inpaint --config {params.cfg:q} {params.ckpts} "
                    "--figure {output.figure} --csv {output.csv} --profile {params.profile} > {log} 2>&1"

            STN_TARGETS += [rules.stanley_inpainting.output.figure]

    rule stanley:
        input:
            STN_TARGETS,
        localrule: True

    ALL_TARGETS += STN_TARGETS
