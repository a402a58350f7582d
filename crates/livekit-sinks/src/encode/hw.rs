//! Hardware frames for VA-API: a device, a pool of GPU surfaces, and the upload of each frame.

use std::ptr;

use ff::ffi;
use ffmpeg_next as ff;

/// A VA-API device and its frame pool (NV12 surfaces of the encoder's size).
pub(crate) struct HwFrames {
    device: *mut ffi::AVBufferRef,
    frames: *mut ffi::AVBufferRef,
    width: u32,
    height: u32,
}

impl HwFrames {
    /// Opens the default VA-API device (the first render node) and a pool of surfaces.
    pub(crate) fn vaapi(width: u32, height: u32) -> Result<Self, ff::Error> {
        let mut device = ptr::null_mut();
        // SAFETY: FFmpeg fills `device` on success; on failure it stays null.
        let made = unsafe {
            ffi::av_hwdevice_ctx_create(
                &mut device,
                ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_VAAPI,
                ptr::null(),
                ptr::null_mut(),
                0,
            )
        };
        if made < 0 || device.is_null() {
            return Err(ff::Error::from(made.min(-1)));
        }
        let mut hw = Self {
            device,
            frames: ptr::null_mut(),
            width,
            height,
        };
        // SAFETY: `device` is a valid device reference; the frames context is set up before
        // its init, as FFmpeg documents; on any failure `Drop` unrefs what exists.
        unsafe {
            hw.frames = ffi::av_hwframe_ctx_alloc(hw.device);
            if hw.frames.is_null() {
                return Err(ff::Error::Other {
                    errno: ff::util::error::ENOMEM,
                });
            }
            let ctx = (*hw.frames).data as *mut ffi::AVHWFramesContext;
            (*ctx).format = ffi::AVPixelFormat::AV_PIX_FMT_VAAPI;
            (*ctx).sw_format = ffi::AVPixelFormat::AV_PIX_FMT_NV12;
            (*ctx).width = width as i32;
            (*ctx).height = height as i32;
            (*ctx).initial_pool_size = 20;
            let init = ffi::av_hwframe_ctx_init(hw.frames);
            if init < 0 {
                return Err(ff::Error::from(init));
            }
        }
        Ok(hw)
    }

    /// The encoder's pixel format.
    pub(crate) fn pixel_format(&self) -> ff::format::Pixel {
        ff::format::Pixel::VAAPI
    }

    /// A new reference to the frame pool, for the codec context (which unrefs it).
    pub(crate) fn new_reference(&self) -> Result<*mut ffi::AVBufferRef, ff::Error> {
        // SAFETY: `frames` is a valid reference while `self` lives.
        let reference = unsafe { ffi::av_buffer_ref(self.frames) };
        if reference.is_null() {
            return Err(ff::Error::Other {
                errno: ff::util::error::ENOMEM,
            });
        }
        Ok(reference)
    }

    /// A system-memory NV12 frame to convert into before [`upload`](Self::upload).
    pub(crate) fn new_upload_frame(&self) -> Result<ff::frame::Video, ff::Error> {
        super::video::new_frame(ff::format::Pixel::NV12, self.width, self.height)
    }

    /// Copies `frame` (NV12) to a GPU surface, keeping its timestamp.
    pub(crate) fn upload(&self, frame: &ff::frame::Video) -> Result<ff::frame::Video, ff::Error> {
        let mut surface = ff::frame::Video::empty();
        // SAFETY: `surface` is a fresh frame; the pool and `frame` are valid; FFmpeg checks
        // the formats and sizes.
        unsafe {
            let got = ffi::av_hwframe_get_buffer(self.frames, surface.as_mut_ptr(), 0);
            if got < 0 {
                return Err(ff::Error::from(got));
            }
            let copied = ffi::av_hwframe_transfer_data(surface.as_mut_ptr(), frame.as_ptr(), 0);
            if copied < 0 {
                return Err(ff::Error::from(copied));
            }
        }
        surface.set_pts(frame.pts());
        Ok(surface)
    }
}

impl Drop for HwFrames {
    fn drop(&mut self) {
        // SAFETY: both are references we own (or null, which av_buffer_unref accepts).
        unsafe {
            ffi::av_buffer_unref(&mut self.frames);
            ffi::av_buffer_unref(&mut self.device);
        }
    }
}
