//! The built-in NFV example: small kernel, qemu, libvirt, ovs and nova repositories with
//! upstream histories, carried series in both forms, an `sriov` feature across four of them,
//! real test scripts, and an upstream move in which one patch has landed, one conflicts and
//! blocks the nova patch through the feature, and the rest rebase and pass.
//!
//! Built with the git command and no network; dates are pinned so every build has the same
//! commit ids.

use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

/// Why the demo workspace could not be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DemoError {
    /// The directory is not empty.
    #[error("{} is not empty; give an empty or new directory", .0.display())]
    NotEmpty(PathBuf),
    /// A file could not be written.
    #[error("cannot write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// git failed.
    #[error("`git {args}` failed in {}: {stderr}", dir.display())]
    Git {
        dir: PathBuf,
        args: String,
        stderr: String,
    },
}

/// A repository being built, with a clock so commits get distinct, pinned dates.
struct Repo {
    dir: PathBuf,
    clock: std::cell::Cell<i64>,
}

impl Repo {
    fn init(dir: PathBuf) -> Result<Self, DemoError> {
        std::fs::create_dir_all(&dir).map_err(|source| DemoError::Io {
            path: dir.clone(),
            source,
        })?;
        let repo = Self {
            dir,
            clock: std::cell::Cell::new(1_735_725_600),
        };
        repo.git(&["init", "--quiet", "--initial-branch=main"])?;
        Ok(repo)
    }

    fn open(dir: PathBuf) -> Self {
        Self {
            dir,
            clock: std::cell::Cell::new(1_738_404_000),
        }
    }

    fn git(&self, args: &[&str]) -> Result<String, DemoError> {
        let tick = self.clock.get() + 3_600;
        self.clock.set(tick);
        let date = format!("@{tick} +0000");
        let output = Command::new("git")
            .current_dir(&self.dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "NFV Platform Team")
            .env("GIT_AUTHOR_EMAIL", "platform@example.org")
            .env("GIT_COMMITTER_NAME", "NFV Platform Team")
            .env("GIT_COMMITTER_EMAIL", "platform@example.org")
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .output()
            .map_err(|source| DemoError::Io {
                path: self.dir.clone(),
                source,
            })?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        } else {
            Err(DemoError::Git {
                dir: self.dir.clone(),
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            })
        }
    }

    fn write(&self, file: &str, contents: &str) -> Result<(), DemoError> {
        let path = self.dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| DemoError::Io {
                path: parent.to_owned(),
                source,
            })?;
        }
        std::fs::write(&path, contents).map_err(|source| DemoError::Io { path, source })
    }

    fn commit(&self, files: &[(&str, &str)], message: &str) -> Result<(), DemoError> {
        for (file, contents) in files {
            self.write(file, contents)?;
        }
        self.git(&["add", "-A"])?;
        self.git(&["commit", "--quiet", "-m", message])?;
        Ok(())
    }
}

const MANIFEST: &str = r#"# The carry demo: a small NFV platform. Upstreams are local repositories under upstream/.
[workspace]
name = "nfv-demo"
max-patch-age = "180d"

[project.kernel]
repo = "repos/kernel"
upstream = { path = "upstream/kernel", ref = "main" }
series = { dir = "patches/kernel", base = "v6.12" }
test = "sh check.sh"

[project.qemu]
repo = "repos/qemu"
upstream = { path = "upstream/qemu", ref = "main" }
series = { branch = "nfv/carried", base = "v9.2.0" }
consumes = ["kernel"]
test = "sh check.sh"

[project.libvirt]
repo = "repos/libvirt"
upstream = { path = "upstream/libvirt", ref = "main" }
series = { branch = "nfv/carried", base = "v10.10.0" }
consumes = ["qemu"]
test = "sh check.sh"

[project.ovs]
repo = "repos/ovs"
upstream = { path = "upstream/ovs", ref = "main" }
series = { branch = "nfv/carried", base = "v3.4.0" }
consumes = ["kernel"]
test = { command = "sh check.sh", timeout = "5m" }

[project.nova]
repo = "repos/nova"
upstream = { path = "upstream/nova", ref = "main" }
series = { branch = "nfv/carried", base = "30.0.0" }
consumes = ["libvirt"]
test = "sh check.sh"

[feature.sriov]
description = "SR-IOV virtual functions passed through to NFV guests"
deadline = "2027-03-31"
tracking = "https://tracker.example.org/NFV-1234"
[feature.sriov.patches]
"nova/sriov-vf-pci" = ["libvirt/hostdev-vf"]
"libvirt/hostdev-vf" = ["qemu/vfio-sriov"]
"qemu/vfio-sriov" = ["kernel/0001-vfio-pci-accept-a-VF-token-for-SR-IOV-VFs"]
"kernel/0001-vfio-pci-accept-a-VF-token-for-SR-IOV-VFs" = []

[feature.vhost-numa]
description = "NUMA-aware vhost-user queues"
[feature.vhost-numa.patches]
"ovs/vhost-numa-realloc" = []
"#;

/// A C-ish source file of `n` numbered functions, so patches have context to apply in.
fn source(name: &str, n: usize) -> String {
    let mut text = format!("/* {name} */\n#include \"common.h\"\n\n");
    for i in 1..=n {
        text.push_str(&format!(
            "int {name}_step{i}(int x)\n{{\n    return x + {i};\n}}\n\n"
        ));
    }
    text
}

/// Builds the demo workspace in `dir` (which must be empty or absent).
pub(crate) fn build(dir: &Path) -> Result<(), DemoError> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|source| DemoError::Io {
                path: dir.to_owned(),
                source,
            })?
            .next()
            .is_some()
    {
        return Err(DemoError::NotEmpty(dir.to_owned()));
    }
    std::fs::create_dir_all(dir).map_err(|source| DemoError::Io {
        path: dir.to_owned(),
        source,
    })?;
    std::fs::write(dir.join("carry.toml"), MANIFEST).map_err(|source| DemoError::Io {
        path: dir.join("carry.toml"),
        source,
    })?;
    kernel(dir)?;
    qemu(dir)?;
    libvirt(dir)?;
    ovs(dir)?;
    nova(dir)?;
    Ok(())
}

/// Creates upstream/<name> with `files` and `tag`, and clones it to repos/<name>.
fn upstream(
    dir: &Path,
    name: &str,
    files: &[(&str, &str)],
    tag: &str,
) -> Result<(Repo, Repo), DemoError> {
    let up = Repo::init(dir.join("upstream").join(name))?;
    up.commit(files, &format!("{name}: import"))?;
    up.git(&["tag", tag])?;
    let root = Repo::open(dir.to_owned());
    root.git(&[
        "clone",
        "--quiet",
        &format!("upstream/{name}"),
        &format!("repos/{name}"),
    ])?;
    let project = Repo::open(dir.join("repos").join(name));
    Ok((up, project))
}

fn kernel(dir: &Path) -> Result<(), DemoError> {
    let pci = source("vfio_pci", 12);
    let check = "#!/bin/sh\n# The platform needs VF tokens in vfio-pci.\ngrep -q 'vf_token' drivers/vfio/pci.c || { echo 'kernel: vfio-pci lacks VF token support'; exit 1; }\necho 'kernel: vfio-pci accepts VF tokens'\n";
    let (up, project) = upstream(
        dir,
        "kernel",
        &[
            ("drivers/vfio/pci.c", &pci),
            ("drivers/net/sriov.c", &source("sriov", 6)),
            ("check.sh", check),
        ],
        "v6.12",
    )?;
    // The carried series, made as commits, then kept as a patch directory (git format-patch).
    project.git(&["checkout", "--quiet", "-b", "work", "v6.12"])?;
    project.commit(
        &[("drivers/vfio/pci.c", &pci.replace("int vfio_pci_step3(int x)\n{\n    return x + 3;", "int vfio_pci_step3(int x)\n{\n    int vf_token = x; /* accept a VF token */\n    return vf_token + 3;"))],
        "vfio-pci: accept a VF token for SR-IOV VFs\n\nUpstream-Status: Submitted [https://lore.kernel.org/kvm/]\nSigned-off-by: NFV Platform Team <platform@example.org>",
    )?;
    project.commit(
        &[("drivers/net/sriov.c", &source("sriov", 6).replace("return x + 5;", "return x + 5 + 64; /* more VFs */"))],
        "net: sriov: raise the VF limit for NFV hosts\n\nUpstream-Status: Inappropriate [platform tuning]",
    )?;
    let patches = dir.join("patches/kernel");
    project.git(&[
        "format-patch",
        "--quiet",
        "-o",
        &patches.to_string_lossy(),
        "v6.12..work",
    ])?;
    std::fs::write(
        patches.join("series"),
        "# kernel patches carried for the NFV platform\n0001-vfio-pci-accept-a-VF-token-for-SR-IOV-VFs.patch\n0002-net-sriov-raise-the-VF-limit-for-NFV-hosts.patch\n",
    )
    .map_err(|source| DemoError::Io { path: patches.join("series"), source })?;
    project.git(&["checkout", "--quiet", "main"])?;
    project.git(&["branch", "--quiet", "-D", "work"])?;
    // Upstream moves on elsewhere in the same files.
    up.commit(
        &[(
            "drivers/vfio/pci.c",
            &pci.replace("return x + 11;", "return x + 11; /* upstream cleanup */"),
        )],
        "vfio-pci: clean up step 11",
    )?;
    up.commit(
        &[("drivers/net/README", "SR-IOV networking\n")],
        "net: document SR-IOV",
    )?;
    Ok(())
}

fn qemu(dir: &Path) -> Result<(), DemoError> {
    let vfio = source("vfio", 10);
    let check = "#!/bin/sh\ngrep -q 'vf_token' hw/vfio/pci.c || { echo 'qemu: no vf-token option'; exit 1; }\ngrep -q 'vf_token' \"$CARRY_DEP_KERNEL/drivers/vfio/pci.c\" || { echo 'qemu: the kernel it is built against lacks VF tokens'; exit 1; }\necho 'qemu: vfio-pci takes vf-token, and the kernel supports it'\n";
    let (up, project) = upstream(
        dir,
        "qemu",
        &[("hw/vfio/pci.c", &vfio), ("check.sh", check)],
        "v9.2.0",
    )?;
    project.git(&["checkout", "--quiet", "-b", "nfv/carried", "v9.2.0"])?;
    project.commit(
        &[("hw/vfio/pci.c", &vfio.replace("return x + 2;", "return x + 2; /* vf_token option */"))],
        "vfio/pci: accept a vf-token for SR-IOV VFs\n\nCarry-Patch: vfio-sriov\nUpstream-Status: Submitted [qemu-devel]",
    )?;
    project.git(&["checkout", "--quiet", "main"])?;
    up.commit(
        &[(
            "hw/vfio/pci.c",
            &vfio.replace("return x + 9;", "return x + 9; /* upstream tweak */"),
        )],
        "vfio: tweak step 9",
    )?;
    Ok(())
}

fn libvirt(dir: &Path) -> Result<(), DemoError> {
    let hostdev = source("qemu_hostdev", 8);
    let check = "#!/bin/sh\ngrep -q 'vf_token' src/qemu/qemu_hostdev.c || { echo 'libvirt: hostdev does not pass the VF token'; exit 1; }\necho 'libvirt: hostdev passes the VF token'\n";
    let (up, project) = upstream(
        dir,
        "libvirt",
        &[("src/qemu/qemu_hostdev.c", &hostdev), ("check.sh", check)],
        "v10.10.0",
    )?;
    project.git(&["checkout", "--quiet", "-b", "nfv/carried", "v10.10.0"])?;
    project.commit(
        &[("src/qemu/qemu_hostdev.c", &hostdev.replace("return x + 4;", "return x + 4 + vf_token;"))],
        "qemu: hostdev: pass the VF token to QEMU\n\nCarry-Patch: hostdev-vf\nUpstream-Status: Pending",
    )?;
    project.commit(
        &[("docs/sriov.rst", "SR-IOV VF tokens\n================\n")],
        "docs: describe SR-IOV VF tokens\n\nUpstream-Status: Pending",
    )?;
    project.git(&["checkout", "--quiet", "main"])?;
    // Upstream reworks exactly the line the hostdev patch changes: a conflict.
    up.commit(
        &[(
            "src/qemu/qemu_hostdev.c",
            &hostdev.replace("return x + 4;", "return qemuHostdevPCIAddress(x) + 4;"),
        )],
        "qemu: hostdev: rework PCI address handling",
    )?;
    Ok(())
}

fn ovs(dir: &Path) -> Result<(), DemoError> {
    let netdev = source("netdev_dpdk", 10);
    let check = "#!/bin/sh\ngrep -q 'numa_realloc' lib/netdev-dpdk.c || { echo 'ovs: no vhost NUMA reallocation'; exit 1; }\ngrep -q 'free(vq)' lib/netdev-dpdk.c || { echo 'ovs: the vhost teardown leak is back'; exit 1; }\necho 'ovs: vhost queues follow the guest NUMA node, no leak'\n";
    let (up, project) = upstream(
        dir,
        "ovs",
        &[("lib/netdev-dpdk.c", &netdev), ("check.sh", check)],
        "v3.4.0",
    )?;
    project.git(&["checkout", "--quiet", "-b", "nfv/carried", "v3.4.0"])?;
    let leak_fixed = netdev.replace("return x + 7;", "free(vq); return x + 7;");
    project.commit(
        &[("lib/netdev-dpdk.c", &leak_fixed)],
        "netdev-dpdk: fix a leak in vhost teardown\n\nUpstream-Status: Submitted [ovs-dev]",
    )?;
    project.commit(
        &[("lib/netdev-dpdk.c", &leak_fixed.replace("return x + 2;", "return numa_realloc(x) + 2;"))],
        "netdev-dpdk: Reallocate vhost queues on the guest NUMA node\n\nCarry-Patch: vhost-numa-realloc\nUpstream-Status: Pending",
    )?;
    project.git(&["checkout", "--quiet", "main"])?;
    // Upstream takes the leak fix as it was posted: that patch has landed.
    up.commit(
        &[(
            "lib/netdev-dpdk.c",
            &netdev.replace("return x + 7;", "free(vq); return x + 7;"),
        )],
        "netdev-dpdk: fix a leak in vhost teardown",
    )?;
    up.commit(&[("NEWS", "v3.5.0 - unreleased\n")], "NEWS: start 3.5.0")?;
    Ok(())
}

fn nova(dir: &Path) -> Result<(), DemoError> {
    let driver = "class LibvirtDriver:\n    def attach_interface(self, vif):\n        return self._attach(vif)\n\n    def detach_interface(self, vif):\n        return self._detach(vif)\n";
    let check = "#!/bin/sh\ngrep -q 'vf_token' nova/virt/libvirt/driver.py || { echo 'nova: no SR-IOV VF hot-plug'; exit 1; }\ngrep -q 'vf_token' \"$CARRY_DEP_LIBVIRT/src/qemu/qemu_hostdev.c\" || { echo 'nova: libvirt cannot pass VF tokens'; exit 1; }\necho 'nova: SR-IOV VF hot-plug works against this libvirt'\n";
    let (up, project) = upstream(
        dir,
        "nova",
        &[("nova/virt/libvirt/driver.py", driver), ("check.sh", check)],
        "30.0.0",
    )?;
    project.git(&["checkout", "--quiet", "-b", "nfv/carried", "30.0.0"])?;
    project.commit(
        &[("nova/virt/libvirt/driver.py", &driver.replace("return self._attach(vif)", "return self._attach(vif, vf_token=vif.get('vf_token'))"))],
        "libvirt: support SR-IOV VF hot-plug with a VF token\n\nCarry-Patch: sriov-vf-pci\nChange-Id: I5a1b2c3d4e5f60718293a4b5c6d7e8f901234567\nUpstream-Status: Submitted [https://review.opendev.org/]",
    )?;
    project.git(&["checkout", "--quiet", "main"])?;
    up.commit(
        &[("nova/conf/pci.py", "alias = []\n")],
        "conf: add PCI alias options",
    )?;
    Ok(())
}
