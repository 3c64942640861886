/**
 * What actually runs. gpu.js's `mode: 'gpu'` quietly becomes its WebAssembly kernel when no GL context exists,
 * while `gpu.mode` still says 'gpu'; headless-gl hides the real renderer behind 'ANGLE'; WebGPU in Node needs
 * Dawn (the `webgpu` package), which does not load on older glibc. So we look: the class of a kernel that has
 * really run, `GPU.isHeadlessGLSupported`, an actual WebGPU adapter request, and (Node) the GL driver the
 * process loaded.
 */

/** The gpu.js kernel modes this backend can run on (webgpu is detected and reported, see README). */
export type GpujsMode = 'gpu' | 'headlessgl' | 'webgl2' | 'webgl' | 'webasm' | 'cpu';

export interface GpujsDetection {
  /** The mode asked for. */
  requested: GpujsMode;
  /** The gpu.js mode of the kernel class that really ran the probe kernel. */
  runs: 'headlessgl' | 'webgl2' | 'webgl' | 'webasm' | 'cpu' | string;
  /** The class name of that kernel, e.g. HeadlessGLKernel, WebAssemblyKernel. */
  kernelClass: string;
  /** Why gpu.js degraded a kernel to its cpu backend, if it did. */
  fallbackReason: string | null;
  headlessGLSupported: boolean;
  webGPU: { available: boolean; detail: string };
  /** The renderer behind a GL mode, when we could find out; otherwise a sentence saying we could not. */
  renderer: string;
  /** True only where kernels run on a real (hardware) GPU. */
  realGpu: boolean;
  /** One line, e.g. `gpujs:headlessgl (mesa swrast_dri.so: llvmpipe software renderer)`. */
  summary: string;
}

const SOFTWARE_GL = /swrast|llvmpipe|softpipe|swiftshader|software/i;
const HARDWARE_GL_LIBS = /libGLX_nvidia|libnvidia-glcore|nvidia_dri|radeonsi_dri|r600_dri|iris_dri|i965_dri|crocus_dri|nouveau_dri|amdgpu_dri|virtio_gpu_dri|d3d12_dri|asahi_dri|panfrost_dri|freedreno_dri|v3d_dri/;

/** Node only: the GL driver libraries this process has mapped (after a GL context was created). */
function mappedGlDrivers(): string[] | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => any; platform?: string } }).process;
  const fs = proc?.platform === 'linux' ? proc.getBuiltinModule?.('node:fs') : undefined;
  if (!fs) return null;
  try {
    const maps: string = fs.readFileSync('/proc/self/maps', 'utf8');
    const libs = new Set<string>();
    for (const line of maps.split('\n')) {
      const path = line.split(/\s+/)[5];
      if (path && /_dri\.so|libGLX_|libnvidia-glcore|libgallium/.test(path)) libs.add(path.slice(path.lastIndexOf('/') + 1));
    }
    return [...libs];
  } catch {
    return null;
  }
}

/** Which renderer a GL kernel used, and whether it is hardware. */
export function glRenderer(context: any): { renderer: string; realGpu: boolean } {
  // Browsers (and some GL stacks) tell the unmasked renderer string.
  try {
    const ext = context?.getExtension?.('WEBGL_debug_renderer_info');
    const unmasked = ext ? String(context.getParameter(ext.UNMASKED_RENDERER_WEBGL)) : '';
    if (unmasked) return { renderer: unmasked, realGpu: !SOFTWARE_GL.test(unmasked) };
  } catch {
    // fall through to the driver libraries
  }
  const libs = mappedGlDrivers();
  if (libs && libs.length > 0) {
    const hw = libs.filter((l) => HARDWARE_GL_LIBS.test(l));
    if (hw.length > 0) return { renderer: `hardware GL driver ${hw.join(', ')}`, realGpu: true };
    const sw = libs.filter((l) => SOFTWARE_GL.test(l));
    if (sw.length > 0) return { renderer: `mesa ${sw.join(', ')}: llvmpipe software renderer`, realGpu: false };
    return { renderer: `unrecognised GL driver ${libs.join(', ')}`, realGpu: false };
  }
  return { renderer: 'renderer hidden (ANGLE reports no driver); assumed not a real GPU', realGpu: false };
}

/**
 * Asks for a WebGPU adapter: the browser's `navigator.gpu`, or in Node the `webgpu` package (Dawn), loaded
 * dynamically so that its failure to load (glibc < 2.38) is a reported fact, not a crash.
 */
export async function probeWebGPU(): Promise<{ available: boolean; detail: string }> {
  try {
    let gpu = (globalThis as { navigator?: { gpu?: any } }).navigator?.gpu;
    if (!gpu) {
      const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
      if (!isNode) return { available: false, detail: 'navigator.gpu is missing' };
      const spec = 'webgpu'; // a variable, so that bundlers for the browser leave this Node-only import alone
      const dawn = await import(/* @vite-ignore */ spec);
      gpu = dawn.create([]);
    }
    const adapter = await gpu.requestAdapter();
    if (!adapter) return { available: false, detail: 'requestAdapter() returned null' };
    const info = adapter.info ?? {};
    const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unnamed adapter';
    return { available: true, detail: `${name}${adapter.isFallbackAdapter || info.isFallbackAdapter ? ' (fallback/software adapter)' : ''}` };
  } catch (err) {
    const msg = (err as Error).message ?? String(err);
    return { available: false, detail: `webgpu did not load: ${msg.split('\n')[0]!.slice(0, 160)}` };
  }
}
